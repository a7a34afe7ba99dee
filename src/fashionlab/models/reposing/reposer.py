"""A trained re-posing model, as ``fashionlab.load`` returns it: ``model.repose(images, target_keypoints)``.

The export holds the generator only; the source pose of a picture is found by the keypoint estimator the
export names (``extra.keypoint_model``, by default the shipped ``asset:keypoints-synth128x64``, checked by
its tensor hash) unless the caller gives it. Keypoints are ``(18, 2)`` ``[x, y]`` pixel positions in OpenPose
order, -1 for a missing point, in the frame of the picture they belong to.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ...data.imaging import Preprocess, denormalise
from ...data.keypoints import NUM_KEYPOINTS, heatmaps_torch
from ...errors import InputError
from .networks import run_generator


def _check_pose(kps: np.ndarray, size: tuple[int, int], what: str) -> np.ndarray:
    kps = np.asarray(kps, np.float64)
    if kps.shape != (NUM_KEYPOINTS, 2):
        raise InputError(f"{what}: expected {NUM_KEYPOINTS} [x, y] points, got shape {kps.shape}", field=what)
    if not np.isfinite(kps).all():
        raise InputError(f"{what}: NaN or infinite coordinates (use -1 or null for a missing point)", field=what)
    h, w = size
    present = ~((kps[:, 0] == -1) | (kps[:, 1] == -1))
    bad = present & ((kps[:, 0] < 0) | (kps[:, 0] >= w) | (kps[:, 1] < 0) | (kps[:, 1] >= h))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{what}: point {k} ({kps[k, 0]:.1f}, {kps[k, 1]:.1f}) is outside the {w}x{h} picture", field=what
        )
    if present.sum() < 2:
        raise InputError(f"{what}: fewer than two keypoints present: no pose to follow", field=what)
    return kps


class Reposer(nn.Module):
    """A generator (XingGAN, PATN or Deformable GAN) with its input contract; see the module docstring."""

    def __init__(
        self,
        kind: str,
        generator: nn.Module,
        preprocess: Preprocess,
        sigma: float,
        keypoint_model: str,
        keypoint_model_sha256: str | None = None,
    ):
        super().__init__()
        self.kind = kind
        self.G = generator
        self.preprocess = preprocess
        self.sigma = float(sigma)
        self.keypoint_model = keypoint_model
        self.keypoint_model_sha256 = keypoint_model_sha256
        self._keypoint_net: nn.Module | None = None

    def load_exported(self, states: dict[str, dict[str, torch.Tensor]]) -> None:
        self.G.load_state_dict(states["G"])

    def keypoint_net(self) -> nn.Module:
        """The keypoint estimator the export names (loaded once), checked to be the one it was exported with
        when the export records its tensor hash (``extra.keypoint_model_tensor_sha256``)."""
        if self._keypoint_net is None:
            from ..registry import load

            if not self.keypoint_model:
                raise InputError(
                    "this model names no keypoint estimator: give the source keypoints", field="keypoint_model"
                )
            self._keypoint_net = load(
                self.keypoint_model,
                device=next(self.G.parameters()).device,
                tensor_sha256=self.keypoint_model_sha256,
                what=f"the keypoint estimator {self.keypoint_model}",
            )
        return self._keypoint_net

    def heatmaps(self, keypoints: torch.Tensor) -> torch.Tensor:
        h, w = self.preprocess.size
        return heatmaps_torch(keypoints, h, w, self.sigma)

    @torch.no_grad()
    def generate(
        self, source_image: torch.Tensor, source_keypoints: torch.Tensor, target_keypoints: torch.Tensor
    ) -> torch.Tensor:
        """Tensors at the model's size: ``(B, 3, H, W)`` in [-1, 1] and ``(B, 18, 2)`` keypoints in its pixels
        -> ``(B, 3, H, W)`` in [-1, 1]."""
        if tuple(source_image.shape[-2:]) != tuple(self.preprocess.size):
            raise InputError(
                f"expected images of {self.preprocess.size}, got {tuple(source_image.shape[-2:])}", field="images"
            )
        dev = next(self.G.parameters()).device
        source_keypoints, target_keypoints = source_keypoints.to(dev).float(), target_keypoints.to(dev).float()
        source_pose, target_pose = self.heatmaps(source_keypoints), self.heatmaps(target_keypoints)
        return run_generator(
            self.G, source_image.to(dev), source_pose, target_pose, source_keypoints, target_keypoints
        ).float()

    @torch.no_grad()
    def find_keypoints(self, image: np.ndarray) -> np.ndarray:
        """``(18, 2)`` keypoints of one ``(H, W, 3)`` uint8 picture, in its pixels, by the keypoint estimator."""
        kps = self.keypoint_net().predict_image(image)
        if int((kps[:, 0] >= 0).sum()) < 4:
            raise InputError("no person found in the picture (fewer than 4 keypoints detected)", field="image")
        return kps

    @torch.no_grad()
    def repose(
        self,
        images: np.ndarray | Sequence[np.ndarray],
        target_keypoints: np.ndarray | Sequence[np.ndarray],
        source_keypoints: np.ndarray | Sequence[np.ndarray] | None = None,
        target_frame: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """The people of ``images`` (uint8 ``(H, W, 3)`` pictures of any size, or one) in the target poses.

        ``target_keypoints``: one ``(18, 2)`` pose per picture (or one for all), in that picture's pixels or,
        with ``target_frame=(H, W)``, in the pixels of a picture of that size (a reference picture the pose
        was taken from: it is fitted to the model's frame as the sources are); ``source_keypoints``: the
        pictures' own poses, found by the keypoint estimator when None. Pictures are
        fitted to the model's size (``preprocess``) with their poses; returns uint8 ``(B, h, w, 3)`` at the
        model's size (a single picture gives ``(h, w, 3)``)."""
        from ..keypoints import resize_keypoints

        single = isinstance(images, np.ndarray) and images.ndim == 3
        pictures = [images] if single else list(images)
        if not pictures:
            raise InputError("no images given", field="images")
        targets = np.asarray(target_keypoints, np.float64)
        if targets.ndim == 2:
            targets = np.broadcast_to(targets, (len(pictures), *targets.shape))
        if len(targets) != len(pictures):
            raise InputError(f"{len(pictures)} images but {len(targets)} target poses", field="target_keypoints")
        sources = None if source_keypoints is None else np.asarray(source_keypoints, np.float64)
        if sources is not None and sources.ndim == 2:
            sources = sources[None]
        xs, src_kps, tgt_kps = [], [], []
        size, mode = self.preprocess.size, self.preprocess.resize
        for k, picture in enumerate(pictures):
            if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
                raise InputError(
                    f"image {k}: expected (H, W, 3) uint8, got {picture.shape} {picture.dtype}", field="images"
                )
            shape = picture.shape[:2]
            frame = tuple(target_frame) if target_frame is not None else shape
            target = _check_pose(targets[k], frame, "target_keypoints")
            source = (
                self.find_keypoints(picture) if sources is None else _check_pose(sources[k], shape, "source_keypoints")
            )
            xs.append(self.preprocess.image(picture))
            src_kps.append(resize_keypoints(source, shape, size, mode))
            tgt_kps.append(resize_keypoints(target, frame, size, mode))
        out = self.generate(torch.stack(xs), torch.from_numpy(np.stack(src_kps)), torch.from_numpy(np.stack(tgt_kps)))
        result = denormalise(out.cpu())
        return result[0] if single else result
