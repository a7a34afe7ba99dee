"""Exact paired targets for editors trained on SynthFashion: the diagnostic "paired ceiling".

Unpaired editing (StarGAN, AMGAN...) never sees what an edited image should look like. On SynthFashion the
renderer knows it exactly: :func:`exact_targets` re-renders each training sample's person with the target
attributes (same seed, pose, framing, noise), at the training size and with the same flips. Trained with
an L1 loss toward these (``loss.paired``), the same generator shows the ceiling of its architecture at a
given budget: the gap between that row and an unpaired method is the unpaired learning's, not the
network's. It is a diagnostic, not a method: real datasets have no such targets.
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.imaging import normalise, resize_rgb
from ...errors import InputError


def check_synthfashion(dataset) -> None:
    """Raise an InputError unless every item of ``dataset`` (a FashionDataset) can be re-rendered."""
    from ...synth.ground_truth import is_synthfashion

    if not is_synthfashion(dataset.schema, dataset.items):
        raise InputError(
            "loss.paired needs a SynthFashion dataset (exact targets are re-rendered); this one is not",
            field="loss.paired",
        )


def exact_targets(
    dataset, indices: torch.Tensor, targets: torch.Tensor, flip: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] at the dataset's training size: the items ``indices`` (B,) of ``dataset`` (a
    FashionDataset of SynthFashion renders) re-rendered with the attribute values ``targets`` (B, M), each
    flipped horizontally where ``flip`` (B,) is true (as its input was)."""
    from ...synth.ground_truth import item_render_args
    from ...synth.render import render

    native = tuple(dataset.schema.image_size)
    names = dataset.attribute_names
    values = [s.values for s in dataset.specs]
    out = []
    for i, row in zip(indices.tolist(), targets.cpu().tolist(), strict=True):
        args = item_render_args(dataset.items[int(i)])
        wanted = {n: values[a][v] for a, (n, v) in enumerate(zip(names, row, strict=True)) if v >= 0}
        attrs = {**args["attributes"], **wanted}
        image = render(
            args["seed"], attrs, args["pose"], size=native, framing=args["framing"], regions=args["regions"]
        ).image
        out.append(resize_rgb(image, dataset.size, dataset.resize))
    batch = normalise(np.stack(out))
    if flip is not None:
        batch = torch.where(flip.cpu()[:, None, None, None], batch.flip(-1), batch)
    return batch.to(targets.device)
