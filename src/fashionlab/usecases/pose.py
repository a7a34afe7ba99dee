"""Re-posing pictures of any size with a trained XingGAN or PATN: find the poses, fit, generate, draw.

The source pose of each picture is found by the keypoint estimator the model names unless given; the
target pose is given in the picture's pixels, or taken from a reference picture (its pose in its own
pixels, with ``target_frame`` its size). Results come at the model's resolution (e.g. 128x64).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.imaging import load_rgb, resize_rgb
from ..data.keypoints import load_keypoints_json
from ..errors import InputError
from ..models.domain import DomainReport
from ..models.keypoints import draw_skeleton, resize_keypoints
from ..models.reposing.reposer import Reposer
from ..viz import image_grid
from .domain import domain_reports


@dataclass
class PosedImage:
    """One re-posed picture: ``image`` at the model's size (uint8), the poses used (in the input picture's
    pixels and in the target's frame), the domain check's report, and ``source`` (a file) when known."""

    image: np.ndarray
    source_keypoints: np.ndarray
    target_keypoints: np.ndarray
    target_frame: tuple[int, int]
    domain: DomainReport | None = None
    source: Path | None = None
    picture: np.ndarray | None = None  # the input, for panels (set by repose_files)


def check_reposer(model: object, where: str | Path | None = None) -> Reposer:
    """``model`` as a :class:`Reposer`, or an InputError saying what it is instead."""
    if not isinstance(model, Reposer):
        raise InputError(
            f"this export is a {type(model).__name__}, not a re-posing model (train xinggan or patn)", path=where
        )
    return model


def find_pose(
    reposer: Reposer, picture: np.ndarray, where: str | Path | None = None, field: str = "image"
) -> np.ndarray:
    """(18, 2) keypoints of the person in ``picture`` (its pixels), or an InputError naming ``where``."""
    try:
        return reposer.find_keypoints(picture)
    except InputError as e:
        raise InputError(e.message, path=where, field=field if where is None else e.field) from None


def repose_images(
    reposer: Reposer,
    pictures: list[np.ndarray],
    targets: list[np.ndarray],
    *,
    sources: list[np.ndarray | None] | None = None,
    target_frame: tuple[int, int] | None = None,
    names: list[str | Path] | None = None,
    domain_check: bool = True,
) -> list[PosedImage]:
    """Re-pose (H, W, 3) uint8 pictures of any size to ``targets`` ((18, 2) each, in the picture's pixels, or
    in a ``target_frame``-sized reference picture's). ``sources``: known poses (None: found). ``names``:
    how errors name each picture."""
    names = names or [None] * len(pictures)
    sources = sources or [None] * len(pictures)
    found = [
        src if src is not None else find_pose(reposer, pic, where)
        for pic, src, where in zip(pictures, sources, names, strict=True)
    ]
    results = reposer.repose(pictures, targets, found, target_frame=target_frame)
    reports = domain_reports(pictures) if domain_check else [None] * len(pictures)
    return [
        PosedImage(res, src, tgt, tuple(target_frame or pic.shape[:2]), rep)
        for pic, res, src, tgt, rep in zip(pictures, results, found, targets, reports, strict=True)
    ]


def pose_panel(reposer: Reposer, picture: np.ndarray, posed: PosedImage, truth: np.ndarray | None = None) -> np.ndarray:
    """source | source pose | target pose | result (| truth) at the model's size, enlarged to >= 256 px high."""
    from PIL import Image

    size, mode = reposer.preprocess.size, reposer.preprocess.resize
    blank = np.zeros_like(posed.image)
    tiles = [
        resize_rgb(picture, size, mode),
        draw_skeleton(blank, resize_keypoints(posed.source_keypoints, picture.shape[:2], size, mode)),
        draw_skeleton(blank, resize_keypoints(posed.target_keypoints, posed.target_frame, size, mode)),
        posed.image,
    ]
    if truth is not None:
        tiles.append(resize_rgb(truth, size, mode))
    scale = max(1, 256 // size[0])
    sheet = Image.fromarray(image_grid([tiles]))
    return np.asarray(sheet.resize((sheet.width * scale, sheet.height * scale), Image.NEAREST))


def repose_files(
    reposer: Reposer,
    paths: list[Path],
    *,
    target_pose: Path | None = None,
    target: np.ndarray | None = None,
    target_frame: tuple[int, int] | None = None,
    source_pose: Path | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> Iterator[PosedImage]:
    """Re-pose image files in batches: the target is a JSON pose file (``target_pose``, in each picture's
    pixels) or a pose (``target`` with ``target_frame``, from a reference picture); ``source_pose``: the JSON
    pose of the one input picture. Yields one :class:`PosedImage` per input, with ``source`` set."""
    from tqdm import tqdm

    if (target_pose is None) == (target is None):
        raise InputError("give exactly one target: a pose file or a pose from a reference picture", field="target")
    if source_pose is not None and len(paths) != 1:
        raise InputError("a source pose needs exactly one input picture", field="--source-pose")
    bar = tqdm(total=len(paths), desc="re-posing", unit="img", disable=not progress)
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        pictures = [load_rgb(p) for p in chunk]
        if target_pose is not None:
            targets = [load_keypoints_json(target_pose, image_size=pic.shape[:2]) for pic in pictures]
        else:
            targets = [target] * len(pictures)
        sources = [
            load_keypoints_json(source_pose, image_size=pic.shape[:2]) if source_pose else None for pic in pictures
        ]
        posed = repose_images(reposer, pictures, targets, sources=sources, target_frame=target_frame, names=chunk)
        for path, picture, result in zip(chunk, pictures, posed, strict=True):
            result.source = path
            result.picture = picture
            yield result
        bar.update(len(chunk))
    bar.close()
