"""``fashionlab pose``: render the people of photos in a new pose with a trained XingGAN or PATN."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import InputError

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
    from PIL import Image

    from ..data.imaging import load_rgb
    from ..data.keypoints import save_keypoints_json
    from ..models.registry import load
    from ..usecases.images import expand_inputs
    from ..usecases.outputs import OutputFolder
    from ..usecases.pose import check_reposer, find_pose, pose_panel, repose_files

    if (target_pose is None) == (target_pose_from is None):
        raise InputError(
            "give exactly one of --target-pose POSE.json and --target-pose-from IMAGE", field="--target-pose"
        )
    if batch_size < 1:
        raise InputError("must be at least 1", field="--batch-size")
    paths = expand_inputs(images)
    if source_pose is not None and len(paths) != 1:
        raise InputError("--source-pose needs exactly one input image", field="--source-pose")
    if ground_truth is not None and (len(paths) != 1 or not panel):
        raise InputError("--ground-truth needs --panel and exactly one input image", field="--ground-truth")
    folder = OutputFolder(out_dir)
    reposer = check_reposer(load(model), model)
    target = target_frame = None
    if target_pose_from is not None:
        reference = load_rgb(target_pose_from)
        target = find_pose(reposer, reference, target_pose_from)
        target_frame = reference.shape[:2]
    truth = load_rgb(ground_truth) if ground_truth is not None else None
    if target is not None:
        save_keypoints_json(folder.path("target-pose.json"), target)
    for posed in repose_files(
        reposer,
        paths,
        target_pose=target_pose,
        target=target,
        target_frame=target_frame,
        source_pose=source_pose,
        batch_size=batch_size,
        progress=progress,
    ):
        stem = folder.stem(posed.source)
        if posed.domain is not None and posed.domain.unusual:
            out.print(f"[yellow]warning:[/] {escape(str(posed.source))}: {escape(posed.domain.message)}", markup=True)
        Image.fromarray(posed.image).save(folder.path(f"{stem}.png"))
        if panel:
            Image.fromarray(pose_panel(reposer, posed.picture, posed, truth)).save(folder.path(f"{stem}-panel.png"))
    out.print(f"re-posed {len(paths)} image(s) -> {out_dir}")
