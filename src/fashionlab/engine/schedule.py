"""Learning-rate schedules and weight EMA."""

from __future__ import annotations

import copy

import torch
from torch import nn


def constant_then_linear(total_steps: int, decay_start: float, final_factor: float = 0.0):
    """lr factor: 1 until ``decay_start * total_steps``, then linear to ``final_factor`` at the end
    (the StarGAN / AMGAN / XingGAN schedule; ``decay_start=1`` means constant)."""
    start = int(decay_start * total_steps)

    def factor(step: int) -> float:
        if step < start or total_steps <= start:
            return 1.0
        t = min(1.0, (step - start) / max(1, total_steps - start))
        return 1.0 + (final_factor - 1.0) * t

    return factor


class EMA:
    """Exponential moving average of a module's parameters and buffers."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for e, p in zip(self.module.parameters(), module.parameters(), strict=True):
            e.lerp_(p.detach(), 1.0 - self.decay)
        for e, b in zip(self.module.buffers(), module.buffers(), strict=True):
            e.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
