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
    """Exponential moving average of a module's parameters; buffers (BatchNorm statistics) are copied.

    ``warmup`` steps ramp the decay linearly from 0 to ``decay`` (StyleGAN2-ADA's EMA ramp-up in spirit):
    early in training, when the weights move fast, the average follows them instead of dragging the random
    initialisation along. The copy is in eval mode and never trained."""

    def __init__(self, module: nn.Module, decay: float, warmup: int = 0):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay, self.warmup = decay, warmup
        self.module = copy.deepcopy(module).eval()
        self.module.requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The decay used by the update after ``step`` optimisation steps (1-based)."""
        if self.warmup > 0 and step < self.warmup:
            return self.decay * step / self.warmup
        return self.decay

    @torch.no_grad()
    def update(self, module: nn.Module, step: int | None = None) -> None:
        """Move the average towards ``module``'s weights (``step``: for the warm-up; None: full decay)."""
        decay = self.decay if step is None else self.decay_at(step)
        for e, p in zip(self.module.parameters(), module.parameters(), strict=True):
            e.lerp_(p.detach(), 1.0 - decay)
        for e, b in zip(self.module.buffers(), module.buffers(), strict=True):
            e.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
