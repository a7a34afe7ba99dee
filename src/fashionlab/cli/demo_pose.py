"""The re-posing step of ``fashionlab demo``: the shipped Deformable GAN (the default re-poser since 2026-12-04;
the shipped XingGAN stays loadable as ``asset:xinggan-synth128x64``) renders unseen people in new poses, next to
the exact ground truth SynthFashion renders for the same person in the same pose."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHIPPED_REPOSER = "deform-synth128x64"


def pose_demo(out_path: Path, people: int = 4, seed: int = 424242, model: str | Path | None = None):
    """Render ``people`` new people (seeds never used for training) in two wide poses at the model's size;
    the model re-poses the first picture into the second pose, the source pose found on the picture by the
    keypoint estimator the model names (as ``fashionlab pose`` does). Writes a grid, per person: source |
    target pose | result | exact ground truth, and returns (path, mean SSIM of the results to the ground
    truth as the pose papers compute it, the same for "output = source") or None when nothing is shipped."""
    from PIL import Image

    from ..metrics.pose import pose_ssim
    from ..models.keypoints import draw_skeleton
    from ..models.registry import ASSETS, load
    from ..synth.attributes import ATTRIBUTES
    from ..synth.figure import Pose
    from ..synth.generate import item_seed
    from ..synth.render import render
    from ..viz import image_grid

    if model is None:
        if not (ASSETS / SHIPPED_REPOSER).is_dir():
            return None
        model = f"asset:{SHIPPED_REPOSER}"
    reposer = load(model)
    size = tuple(reposer.preprocess.size)
    rng = np.random.default_rng(seed)
    rows, results, sources, truths = [], [], [], []
    for person in range(people):
        s = item_seed(seed, person)
        garment = {name: values[int(rng.integers(len(values)))] for name, values in ATTRIBUTES.items()}
        source, target = (
            render(s, garment, Pose.sample(s, "full", v, pose_range="wide"), size=size, framing="full") for v in (0, 1)
        )
        result = reposer.repose(source.image, target.keypoints)
        blank = np.zeros_like(source.image)
        rows.append([source.image, draw_skeleton(blank, target.keypoints), result, target.image])
        results.append(result)
        sources.append(source.image)
        truths.append(target.image)
    grid = Image.fromarray(image_grid(rows))
    grid.resize((grid.width * 2, grid.height * 2), Image.NEAREST).save(out_path)
    truth = np.stack(truths)
    return (
        out_path,
        float(np.mean(pose_ssim(np.stack(results), truth))),
        float(np.mean(pose_ssim(np.stack(sources), truth))),
    )
