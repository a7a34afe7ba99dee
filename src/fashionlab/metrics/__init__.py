"""Metrics by name (``METRICS.get("attributes")``); each returns a report dataclass."""

from __future__ import annotations

from ..registry import Registry

METRICS: Registry = Registry("metric")


def _register() -> None:
    from .attributes import evaluate_attributes
    from .editing import EditEvaluation
    from .pose import mask_ssim, pckh, pose_ssim
    from .pose_eval import PoseEvaluation
    from .region_edits import RegionEditEvaluation
    from .retrieval import evaluate_manipulation
    from .ssim import ssim

    METRICS.register("attributes", help="accuracy, pointing game and AAM box IoU per attribute")(evaluate_attributes)
    METRICS.register("manipulation_retrieval", help="top-k accuracy of attribute-manipulation queries")(
        evaluate_manipulation
    )
    METRICS.register(
        "editing",
        help="editors: manipulation accuracy, preservation, edit success, top-k retrieval, FID-like, "
        "SynthFashion ground-truth L1/PSNR/SSIM and mask IoU",
    )(EditEvaluation)
    METRICS.register(
        "region_editing",
        help="region edits (red sleeves only, red torso) against the exact re-render: L1/PSNR/SSIM, "
        "SSIM outside the region, region IoU",
    )(RegionEditEvaluation)
    METRICS.register(
        "pose",
        help="re-posing: SSIM, Mask-SSIM, L1, PCKh, FID-like and attribute preservation on test pose pairs",
    )(PoseEvaluation)
    METRICS.register("pckh", help="PCKh as the pose papers' calPCKH scripts (head box, per-axis 0.5)")(pckh)
    METRICS.register("pose_ssim", help="SSIM as the pose papers (data range of the generated image)")(pose_ssim)
    METRICS.register("mask_ssim", help="Mask-SSIM within the target pose's person mask (Market)")(mask_ssim)
    METRICS.register("ssim", help="SSIM as scikit-image computes it (gaussian window, sigma 1.5)")(ssim)


_register()
