"""Attribute classification losses for editors (StarGAN's and AMGAN's auxiliary classifier)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attribute_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    sizes: list[int],
    name: str = "cls",
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, dict]:
    """The cross-entropy of each attribute's slice of ``logits`` (B, N) against ``labels`` (B, M) (value
    indices; -1 unknown is masked out), each averaged over the batch, then the ``reduction`` ("mean" or
    "sum") over attributes. "sum" is StarGAN's L_cls for several attributes (the official code sums its
    binary cross-entropy over all labels). ``label_smoothing``: as ``F.cross_entropy``'s (0: none). Also
    returns the accuracy over known labels, as ``{name: loss, name_acc: accuracy}``."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be mean or sum, got {reduction!r}")
    assert logits.shape[1] == sum(sizes) and labels.shape[1] == len(sizes), (logits.shape, labels.shape, sizes)
    total = logits.float().sum() * 0.0  # keeps the graph when nothing is known
    hits, known_total = logits.new_zeros(()).float(), 0
    off = 0
    for a, n in enumerate(sizes):
        lg, y = logits[:, off : off + n].float(), labels[:, a]
        off += n
        known = y >= 0
        if known.any():
            total = total + F.cross_entropy(lg[known], y[known], label_smoothing=label_smoothing)
            hits = hits + (lg[known].argmax(1) == y[known]).float().sum()
            known_total += int(known.sum())
    loss = total / len(sizes) if reduction == "mean" else total
    acc = hits / max(known_total, 1)
    return loss, {name: loss.detach(), f"{name}_acc": acc.detach()}
