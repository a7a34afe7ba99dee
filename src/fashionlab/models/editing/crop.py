"""AMGAN's attention crop: the box of the largest connected region of the mask above half its maximum,
cropped from real and fake images alike and resized for the crop discriminator D_C."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..roi import largest_component_boxes


@torch.no_grad()
def mask_boxes(mask: torch.Tensor, threshold: float = 0.5, grid: int = 32) -> torch.Tensor:
    """(B, 4) boxes ``(x0, y0, x1, y1)`` in pixels (x1, y1 exclusive) of the largest 8-connected region of
    ``mask >= threshold * max`` (``mask`` (B, 1, H, W) or (B, H, W)). The component search runs on a
    ``grid`` x ``grid`` max-pooled copy (a thin region survives pooling), then scales back; an empty or
    flat mask gives the whole image."""
    m = mask.float().reshape(mask.shape[0], *mask.shape[-2:])
    h, w = m.shape[-2:]
    gh, gw = min(grid, h), min(grid, w)
    small = F.adaptive_max_pool2d(m[:, None], (gh, gw))[:, 0]
    boxes = largest_component_boxes(small, threshold).float()
    flat = (small.flatten(1).max(1).values - small.flatten(1).min(1).values) < 1e-6
    boxes[flat] = torch.tensor([0.0, 0.0, gw, gh], device=boxes.device)
    scale = torch.tensor([w / gw, h / gh, w / gw, h / gh], device=boxes.device)
    return boxes * scale


def crop_and_resize(x: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear crops of ``x`` (B, C, H, W) at pixel ``boxes`` (B, 4), each resized to ``size`` (differentiable
    in ``x``)."""
    b, _, h, w = x.shape
    x0, y0, x1, y1 = boxes.to(x.dtype).unbind(1)
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = (x1 - x0) / w
    theta[:, 0, 2] = (x0 + x1) / w - 1
    theta[:, 1, 1] = (y1 - y0) / h
    theta[:, 1, 2] = (y0 + y1) / h - 1
    grid = F.affine_grid(theta, (b, x.shape[1], *size), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
