"""``fashionlab pose``: render the people of photos in a new pose with a trained XingGAN or PATN."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import InputError, OutputExistsError

out = Console(highlight=False, soft_wrap=True)


def pose(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images (any size).")],
    model: Annotated[str, typer.Option(help="A trained xinggan or patn: run folder, export/ or asset:NAME.")],
    out_dir: Annotated[Path, typer.Option("--out", help="A new folder for the results (never overwritten).")],
    target_pose: Annotated[
        Path | None,
        typer.Option(help="JSON list of 18 [x, y] points or null (OpenPose order), in the input pictures' pixels."),
    ] = None,
    target_pose_from: Annotated[
        Path | None, typer.Option(help="A picture whose person's pose (found by the keypoint model) is the target.")
    ] = None,
    source_pose: Annotated[
        Path | None, typer.Option(help="JSON keypoints of the input picture (default: found by the keypoint model).")
    ] = None,
    panel: Annotated[
        bool, typer.Option("--panel", help="Also write source | source pose | target pose | result (| ground truth).")
    ] = False,
    ground_truth: Annotated[
        Path | None, typer.Option(help="With --panel and one input: the true picture in the target pose.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 8,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Re-pose: the same person in the target pose (XingGAN, PATN).

    Results are at the model's resolution (e.g. 128x64). The source pose of each picture is found by the
    keypoint estimator the model names (shipped: asset:keypoints-synth128x64) unless --source-pose is given."""
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from ..data.imaging import load_rgb, resize_rgb
    from ..data.keypoints import load_keypoints_json, save_keypoints_json
    from ..edit.files import expand_inputs
    from ..models.keypoints import draw_skeleton, resize_keypoints
    from ..models.registry import load
    from ..models.reposing.reposer import Reposer
    from ..viz import image_grid

    if (target_pose is None) == (target_pose_from is None):
        raise InputError(
            "give exactly one of --target-pose POSE.json and --target-pose-from IMAGE", field="--target-pose"
        )
    reposer = load(model)
    if not isinstance(reposer, Reposer):
        raise InputError(
            f"this export is a {type(reposer).__name__}, not a re-posing model (train xinggan or patn)", path=model
        )
    paths = expand_inputs(images)
    if source_pose is not None and len(paths) != 1:
        raise InputError("--source-pose needs exactly one input image", field="--source-pose")
    if ground_truth is not None and (len(paths) != 1 or not panel):
        raise InputError("--ground-truth needs --panel and exactly one input image", field="--ground-truth")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise OutputExistsError(f"{out_dir} exists and is not empty; choose a new --out")

    target_frame = None
    if target_pose_from is not None:
        reference = load_rgb(target_pose_from)
        try:
            target = reposer.find_keypoints(reference)
        except InputError as e:
            raise InputError(e.message, path=target_pose_from, field=e.field) from None
        target_frame = reference.shape[:2]
    truth = load_rgb(ground_truth) if ground_truth is not None else None
    out_dir.mkdir(parents=True, exist_ok=True)
    if target_pose_from is not None:
        save_keypoints_json(out_dir / "target-pose.json", target)
    size, mode = reposer.preprocess.size, reposer.preprocess.resize
    bar = tqdm(total=len(paths), desc="re-posing", unit="img", disable=not progress)
    used: set[str] = set()
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        pictures = [load_rgb(p) for p in chunk]
        targets, sources = [], []
        for p, picture in zip(chunk, pictures, strict=True):
            if target_pose is not None:
                targets.append(load_keypoints_json(target_pose, image_size=picture.shape[:2]))
            else:
                targets.append(target)
            if source_pose is not None:
                sources.append(load_keypoints_json(source_pose, image_size=picture.shape[:2]))
            else:
                try:
                    sources.append(reposer.find_keypoints(picture))
                except InputError as e:
                    raise InputError(e.message, path=p, field=e.field) from None
        results = reposer.repose(pictures, targets, sources, target_frame=target_frame)
        for p, picture, result, src, tgt in zip(chunk, pictures, results, sources, targets, strict=True):
            stem, k = p.stem, 2
            while stem in used:
                stem, k = f"{p.stem}-{k}", k + 1
            used.add(stem)
            Image.fromarray(result).save(out_dir / f"{stem}.png")
            if panel:
                fitted = resize_rgb(picture, size, mode)
                blank = np.zeros_like(result)
                tiles = [
                    fitted,
                    draw_skeleton(blank, resize_keypoints(src, picture.shape[:2], size, mode)),
                    draw_skeleton(blank, resize_keypoints(tgt, target_frame or picture.shape[:2], size, mode)),
                    result,
                ]
                if truth is not None:
                    tiles.append(resize_rgb(truth, size, mode))
                scale = max(1, 256 // size[0])
                sheet = Image.fromarray(image_grid([tiles]))
                sheet = sheet.resize((sheet.width * scale, sheet.height * scale), Image.NEAREST)
                sheet.save(out_dir / f"{stem}-panel.png")
        bar.update(len(chunk))
    bar.close()
    out.print(f"re-posed {len(paths)} image(s) -> {out_dir}")
