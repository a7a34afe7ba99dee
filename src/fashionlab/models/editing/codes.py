"""Manipulation codes: which attribute to change and to what, as a network input.

Following StarGAN's mask vector and AMGAN: the code is the one-hot of every attribute's target value
concatenated over all N values, followed by the one-hot over the M attributes of the one being changed;
it is tiled over the image and concatenated to it (3 + N + M input channels). An unknown value (-1,
real datasets) is an all-zero block. Each training sample changes one attribute, chosen at random among
those whose value is known, to a value different from its current one.
"""

from __future__ import annotations

import torch

from ...errors import InputError


class AttributeSpace:
    """The attributes an editor knows: ``[(name, [values...]), ...]``."""

    def __init__(self, attributes: list[tuple[str, list[str]]]):
        if not attributes:
            raise InputError("an editor needs at least one attribute")
        self.attributes = [(n, list(v)) for n, v in attributes]
        self.sizes = [len(v) for _, v in self.attributes]
        self.offsets = [sum(self.sizes[:a]) for a in range(len(self.sizes))]
        self.n_values = sum(self.sizes)  # N
        self.n_attributes = len(self.attributes)  # M

    @property
    def code_dim(self) -> int:
        return self.n_values + self.n_attributes

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.attributes]

    def index(self, name: str) -> int:
        for a, (n, _) in enumerate(self.attributes):
            if n == name:
                return a
        raise InputError(f"unknown attribute {name!r}; this model knows: {', '.join(self.names)}", field=name)

    def value_index(self, name: str, value: str) -> tuple[int, int]:
        a = self.index(name)
        values = self.attributes[a][1]
        if value not in values:
            raise InputError(f"{name} has no value {value!r}; its values: {', '.join(values)}", field=name)
        return a, values.index(value)

    def code(self, labels: torch.Tensor, changed: torch.Tensor) -> torch.Tensor:
        """(B, N + M) float codes of target ``labels`` (B, M) (value indices, -1 unknown) with attribute
        ``changed`` (B,) marked as the one being manipulated, or (B, M) booleans marking several."""
        assert labels.dim() == 2 and labels.shape[1] == self.n_attributes, tuple(labels.shape)
        b = labels.shape[0]
        out = torch.zeros(b, self.code_dim, device=labels.device)
        for a, off in enumerate(self.offsets):
            known = labels[:, a] >= 0
            rows = torch.nonzero(known).flatten()
            out[rows, off + labels[rows, a]] = 1.0
        if changed.dim() == 2:
            out[:, self.n_values :] = changed.float()
        else:
            out[torch.arange(b, device=labels.device), self.n_values + changed] = 1.0
        return out

    def permuted_targets(self, labels: torch.Tensor):
        """The official StarGAN's CelebA-mode targets: the labels of a random permutation of the batch
        (several attributes change at once). Returns (targets (B, M), changed (B, M) booleans)."""
        perm = torch.randperm(labels.shape[0]).to(labels.device)
        targets = labels[perm]
        return targets, (targets != labels) & (targets >= 0) & (labels >= 0)

    def random_targets(self, labels: torch.Tensor, generator: torch.Generator | None = None):
        """For each sample, one attribute (among those with a known value, else any) changed to another
        value at random. Returns (target labels (B, M), changed attribute (B,)). Draws from the CPU RNG."""
        labels_cpu = labels.cpu()
        b = labels_cpu.shape[0]
        known = labels_cpu >= 0
        weights = torch.where(known.any(1, keepdim=True), known.float(), torch.ones_like(known, dtype=torch.float))
        changed = torch.multinomial(weights, 1, generator=generator).flatten()
        sizes = torch.tensor(self.sizes)[changed]
        current = labels_cpu[torch.arange(b), changed]
        # a uniform value among the other (size - 1) values: draw in [0, size - 1) and skip the current one
        draw = (torch.rand(b, generator=generator) * (sizes - (current >= 0).long())).long()
        new = torch.where((current >= 0) & (draw >= current), draw + 1, draw)
        targets = labels_cpu.clone()
        targets[torch.arange(b), changed] = new
        return targets.to(labels.device), changed.to(labels.device)

    def parse_settings(self, settings: dict[str, str]) -> list[tuple[int, int]]:
        """``{"sleeve": "long", "color": "red"}`` -> [(attribute index, value index), ...] in order, or an
        InputError naming the unknown attribute or value."""
        return [self.value_index(k, v) for k, v in settings.items()]
