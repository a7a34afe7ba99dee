"""The crossing attention of a Xing block (XingGAN, official ``models/model_variants.py``, ``XingBlock``).

Each block updates its two streams' outputs through each other with SAGAN-style spatial attention. One
set of 1x1 convolutions serves both directions: ``query`` and ``key`` (C -> C / 8) and ``value`` (C -> C),
with one scalar ``gamma`` initialised at 0 (the official convs keep their biases)::

    appearance' = appearance + gamma * attend(query(appearance), key(shape), value(appearance))
    shape'      = shape      + gamma * attend(query(shape), key(appearance), value(shape))

where ``appearance`` and ``shape`` are the two streams' outputs in the block (not the block's inputs) and
``attend(q, k, v)[:, i] = sum_j softmax_j(q_i . k_j) v[:, j]`` over all H x W positions. The official code
does NOT scale the dot products by 1 / sqrt(d) (``energy = bmm(query, key)`` then ``softmax(dim=-1)``), so
both implementations here use scale 1:

- ``"sdpa"``: ``torch.nn.functional.scaled_dot_product_attention(..., scale=1.0)``; on backends with a
  memory-efficient kernel its memory grows linearly with the number of positions;
- ``"plain"``: the explicit (HW x HW) softmax matrix, as the official code computes it;
- ``"auto"`` (the default): chosen per call by the tensors' device (:func:`attention_for_device`): ``"plain"``
  on the CPU, where it was measured faster, ``"sdpa"`` elsewhere, for its memory.

Measured on the 2-core CPU (torch 2.13, one thread, forward + backward of one attention at 128x64, batch 8:
512 positions, 32-channel queries, 256-channel values): SDPA 150-180 ms, plain 62-68 ms in fp32; 140-190
against 15-22 ms under bf16 autocast. At 256x176 (2,816 positions) the official-width generator's step
was 26.0 s with SDPA against 21.8 s plain (``docs/benchmarks.md``). On a GPU the fused memory-efficient
kernel keeps the memory linear in the positions (the plain path stores one (HW x HW) map per attention).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

AttentionImplementation = Literal["auto", "sdpa", "plain"]
ATTENTION_IMPLEMENTATIONS: tuple[str, ...] = ("auto", "sdpa", "plain")


def attention_for_device(device: torch.device | str) -> Literal["sdpa", "plain"]:
    """What ``"auto"`` runs on ``device``: ``"plain"`` on the CPU (2.4x faster in fp32 and about 8x under bf16
    autocast there, see the module docstring), ``"sdpa"`` on other devices (memory linear in the positions)."""
    return "plain" if torch.device(device).type == "cpu" else "sdpa"


def spatial_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, implementation: AttentionImplementation = "auto"
) -> torch.Tensor:
    """Unscaled softmax attention over spatial positions.

    ``query`` and ``key`` are (B, D, H, W), ``value`` is (B, C, H, W); returns (B, C, H, W) whose position
    ``i`` is ``sum_j softmax_j(query_i . key_j) value_j`` (no 1 / sqrt(D), as the official code).
    ``implementation``: ``"sdpa"``, ``"plain"`` or ``"auto"`` (by ``value``'s device, :func:`attention_for_device`)."""
    if implementation == "auto":
        implementation = attention_for_device(value.device)
    batch, value_channels, height, width = value.shape
    # (B, 1, HW, channels): one attention head, positions as the sequence
    query_seq = query.flatten(2).transpose(1, 2).unsqueeze(1)
    key_seq = key.flatten(2).transpose(1, 2).unsqueeze(1)
    value_seq = value.flatten(2).transpose(1, 2).unsqueeze(1)
    if implementation == "sdpa":
        # The fused (flash / memory-efficient) kernels need one head size for queries, keys and values, and
        # here values have C channels and queries D = C / 8: otherwise PyTorch silently falls back to the
        # plain math, (HW x HW) matrix included. So the values are cut into C / D heads of D channels that
        # share the same queries and keys: each head is softmax(QK^T) V_h, and their concatenation is exactly
        # softmax(QK^T) V, with memory linear in HW.
        dim = query_seq.shape[-1]
        if value_channels % dim == 0 and value_channels != dim:
            heads = value_channels // dim
            value_heads = value_seq.squeeze(1).unflatten(-1, (heads, dim)).transpose(1, 2)  # (B, heads, HW, D)
            attended = F.scaled_dot_product_attention(
                query_seq.expand(-1, heads, -1, -1).contiguous(),
                key_seq.expand(-1, heads, -1, -1).contiguous(),
                value_heads.contiguous(),
                scale=1.0,
            )
            attended = attended.transpose(1, 2).flatten(2).unsqueeze(1)  # (B, 1, HW, C)
        else:
            attended = F.scaled_dot_product_attention(query_seq, key_seq, value_seq, scale=1.0)
    elif implementation == "plain":
        weights = torch.softmax(query_seq @ key_seq.transpose(-2, -1), dim=-1)  # (B, 1, HW query, HW key)
        attended = weights @ value_seq
    else:
        raise ValueError(f"attention must be one of {ATTENTION_IMPLEMENTATIONS}, not {implementation!r}")
    return attended.squeeze(1).transpose(1, 2).reshape(batch, value_channels, height, width)


class CrossAttention(nn.Module):
    """Both directions of a Xing block's attention with shared query/key/value convs and one ``gamma``.

    ``forward(appearance, shape) -> (appearance', shape')``, both (B, C, H, W); see the module docstring.
    With ``gamma = 0`` (its initial value) the outputs equal the inputs."""

    def __init__(self, channels: int, implementation: AttentionImplementation = "auto"):
        super().__init__()
        if implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attention must be one of {ATTENTION_IMPLEMENTATIONS}, not {implementation!r}")
        if channels % 8:
            raise ValueError(f"attention channels ({channels}) must be a multiple of 8 (query/key use C / 8)")
        self.implementation: AttentionImplementation = implementation
        self.query = nn.Conv2d(channels, channels // 8, 1)
        self.key = nn.Conv2d(channels, channels // 8, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def attend(self, queried: torch.Tensor, keyed: torch.Tensor) -> torch.Tensor:
        """Positions of ``queried`` look up positions of ``keyed`` and gather ``queried``'s own values."""
        return spatial_attention(self.query(queried), self.key(keyed), self.value(queried), self.implementation)

    def forward(self, appearance: torch.Tensor, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        appearance_attended = self.attend(appearance, shape)
        shape_attended = self.attend(shape, appearance)
        return appearance + self.gamma * appearance_attended, shape + self.gamma * shape_attended
