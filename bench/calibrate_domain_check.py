"""Fit and calibrate the domain check (fashionlab.models.domain), measure it, and write its asset.

    OMP_NUM_THREADS=1 python bench/calibrate_domain_check.py                  # fit, calibrate, measure, write
    python bench/calibrate_domain_check.py --no-write --compare               # also the scores it was chosen over
    python bench/calibrate_domain_check.py --datasets data/sf64 data/sfpose128  # + false alarms on their test splits

Three disjoint sets of SynthFashion renders per framing the shipped models see (64 and 128 px upper-body
squares; 128x64 full-body people, standard poses and the 4 wide poses of the pose-pair datasets; 15% of
sleeves with their own colour), each from its own dataset seed: ``--fit`` renders per framing give each
framing's Gaussian (Ledoit-Wolf shrunk covariance) of the features of
:func:`fashionlab.models.domain.domain_features`; ``--cal`` renders set the threshold (the largest
per-framing 99.8% quantile of the score, ``--quantile``); ``--test`` renders
measure the false-alarm rate. The detection rate is measured on every photograph scikit-image ships that
loads offline, each also flipped, cropped (centre 60%, four corners 70%, a tall 1:2 and a wide 2:1 strip)
and shrunk (to 64 and 40 px on its long side): 11 pictures per photograph. scikit-image's synthetic
pictures (a checkerboard, a colour wheel, a logo, a binary silhouette, a phantom) are reported apart.

Writes ``src/fashionlab/assets/domain-synthfashion/{config.json,stats.safetensors}`` (``--out``): the
statistics (stored in fp16 where fp16 changes them by less than 1e-3, see
``fashionlab.engine.tensors.to_storage``; every number printed is measured with the stored values), the
threshold, the measurements, and the attribute network by tensor hash. Prints markdown.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save

import fashionlab
from fashionlab.data.format import load_dataset
from fashionlab.data.imaging import load_rgb, resize_rgb
from fashionlab.engine.export import export_tensor_hash
from fashionlab.engine.runs import git_commit
from fashionlab.engine.tensors import to_storage, upcast
from fashionlab.fileio import atomic_write_bytes, atomic_write_text
from fashionlab.models.domain import STATS_FILE, domain_features, mahalanobis, shrunk_gaussian
from fashionlab.models.registry import ASSETS, model_path
from fashionlab.synth.figure import Pose
from fashionlab.synth.generate import SynthConfig, item_seed, plan_person
from fashionlab.synth.render import render

NETWORK = "attrnet-synth128"
#: (name, size, framing, pose range, poses per person): what the shipped models are trained and evaluated on;
#: the wide-pose people come in the 4 poses of the pose-pair datasets (sfpose128)
FRAMINGS = [
    ("64 px upper body", (64, 64), "upper", "standard", 1),
    ("128 px upper body", (128, 128), "upper", "standard", 1),
    ("128x64 full body, standard poses", (128, 64), "full", "standard", 1),
    ("128x64 full body, wide poses", (128, 64), "full", "wide", 4),
]
#: dataset seeds of the three render sets (+ the framing's index): disjoint people
SEEDS = {"fit": 1000, "cal": 2000, "test": 3000}
QUANTILE = 0.998
PHOTOS = [
    "astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "brick", "grass", "gravel", "clock", "moon",
    "page", "text", "cell", "hubble_deep_field", "immunohistochemistry", "retina", "microaneurysms",
]  # fmt: skip
GRAPHICS = ["checkerboard", "colorwheel", "logo", "horse", "shepp_logan_phantom"]
VARIANTS = ["original", "flipped", "centre 60%", "top-left 70%", "top-right 70%", "bottom-left 70%",
            "bottom-right 70%", "tall 1:2 strip", "wide 2:1 strip", "64 px", "40 px"]  # fmt: skip


def renders(framing: tuple, seed: int, n: int) -> tuple[list[np.ndarray], set[int]]:
    """``n`` renders of a framing from dataset seed ``seed`` (what ``fashionlab data synth`` would draw), and
    their render seeds."""
    _, size, kind, pose_range, poses = framing
    cfg = SynthConfig(n=n, size=size, seed=seed, region_mix=0.15, pose_range=pose_range)
    images, seeds = [], set()
    for person in range(n):
        plan = plan_person(cfg, person, "train")
        pose = Pose.sample(plan["seed"], kind, variant=person % poses, pose_range=pose_range)
        r = render(plan["seed"], plan["attributes"], pose, size=size, framing=kind, regions=plan["regions"])
        images.append(r.image)
        seeds.add(item_seed(seed, person))
    return images, seeds


def as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (image > 0).astype(np.uint8) * 255 if image.dtype == bool else (image * 255).clip(0, 255)
    image = image.astype(np.uint8)
    return np.repeat(image[..., None], 3, 2) if image.ndim == 2 else image[..., :3]


def variants(image: np.ndarray) -> list[np.ndarray]:
    """The 11 pictures of :data:`VARIANTS` made from one photograph."""
    h, w = image.shape[:2]
    a, b = int(h * 0.7), int(w * 0.7)
    strip_w, strip_h = min(w, h // 2), min(h, w // 2)
    out = [
        image,
        image[:, ::-1],
        image[h // 5 : h - h // 5, w // 5 : w - w // 5],
        image[:a, :b],
        image[:a, w - b :],
        image[h - a :, :b],
        image[h - a :, w - b :],
        image[:, (w - strip_w) // 2 : (w + strip_w) // 2],
        image[(h - strip_h) // 2 : (h + strip_h) // 2, :],
    ]
    for side in (64, 40):
        s = side / max(h, w)
        out.append(resize_rgb(image, (max(1, round(h * s)), max(1, round(w * s))), "stretch"))
    return [np.ascontiguousarray(v) for v in out]


def skimage_pictures(names: list[str]) -> dict[str, np.ndarray]:
    import skimage.data

    out = {}
    for name in names:
        try:
            out[name] = as_rgb(getattr(skimage.data, name)())
        except Exception as e:  # noqa: BLE001 - an image that needs a download is skipped, and said so
            print(f"(skimage.data.{name} skipped: {type(e).__name__})", file=sys.stderr)
    return out


def dataset_test_images(root: Path, limit: int) -> list[np.ndarray]:
    ds = load_dataset(root)
    return [load_rgb(ds.image_path(it)) for it in ds.split("test")[:limit]]


def pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit", type=int, default=4000, help="renders per framing for the statistics")
    ap.add_argument("--cal", type=int, default=2000, help="renders per framing for the threshold")
    ap.add_argument("--test", type=int, default=1000, help="renders per framing for the false-alarm rate")
    ap.add_argument("--datasets", nargs="*", type=Path, default=[], help="also the false alarms on their test splits")
    ap.add_argument("--dataset-limit", type=int, default=2000, help="test images per --datasets folder")
    ap.add_argument("--quantile", type=float, default=QUANTILE, help="of the calibration scores, per framing")
    ap.add_argument("--compare", action="store_true", help="also measure the alternatives the score was chosen over")
    ap.add_argument("--out", type=Path, default=ASSETS / "domain-synthfashion")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    net = fashionlab.load(f"asset:{NETWORK}")

    sets: dict[str, list[list[np.ndarray]]] = {}
    seen: dict[str, set[int]] = {}
    for part, n in (("fit", args.fit), ("cal", args.cal), ("test", args.test)):
        sets[part], seen[part] = [], set()
        for j, framing in enumerate(FRAMINGS):
            images, seeds = renders(framing, SEEDS[part] + j, n)
            sets[part].append(images)
            seen[part] |= seeds
    assert not (seen["fit"] & seen["cal"]) and not (seen["fit"] & seen["test"]) and not (seen["cal"] & seen["test"])
    feats = {part: [domain_features(net, images) for images in groups] for part, groups in sets.items()}
    photos = skimage_pictures(PHOTOS)
    graphics = skimage_pictures(GRAPHICS)
    photo_feats = {name: domain_features(net, variants(im)) for name, im in photos.items()}
    graphic_feats = {name: domain_features(net, [im]) for name, im in graphics.items()}

    # the statistics, stored (fp16 where harmless) and measured as stored
    gaussians = [shrunk_gaussian(f) for f in feats["fit"]]
    tensors = {
        "means": torch.from_numpy(np.stack([g[0] for g in gaussians])).float(),
        "precisions": torch.from_numpy(np.stack([g[1] for g in gaussians])).float(),
    }
    stored, storage = to_storage(tensors, "fp16")
    stats = upcast(stored)
    means, precisions = stats["means"].double().numpy(), stats["precisions"].double().numpy()

    def score(x: np.ndarray) -> np.ndarray:
        return np.min([mahalanobis(x, m, p) for m, p in zip(means, precisions, strict=True)], axis=0)

    cal_q = [float(np.quantile(score(f), args.quantile)) for f in feats["cal"]]
    threshold = max(cal_q)
    far = {FRAMINGS[j][0]: float(np.mean(score(f) > threshold)) for j, f in enumerate(feats["test"])}
    far_all = float(np.mean(np.concatenate([score(f) > threshold for f in feats["test"]])))
    photo_scores = {name: score(f) for name, f in photo_feats.items()}
    detected = np.stack([s > threshold for s in photo_scores.values()])
    graphic_scores = {name: float(score(f)[0]) for name, f in graphic_feats.items()}
    dataset_far = {}
    for root in args.datasets:
        s = score(domain_features(net, dataset_test_images(root, args.dataset_limit)))
        dataset_far[root.name] = {"images": len(s), "false_alarm_rate": float(np.mean(s > threshold))}

    # speed of one check of a 512x512 photograph (features + distances), the way a caller runs it
    from fashionlab.models.domain import DomainCheck

    check = DomainCheck(net, means, precisions, threshold)
    check.check(photos["astronaut"])
    t = time.perf_counter()
    for _ in range(20):
        check.check(photos["astronaut"])
    ms = (time.perf_counter() - t) / 20 * 1000

    print(f"# domain check calibration ({date.today()}, {platform.machine()}, torch threads 1)\n")
    print(
        f"renders per framing: fit {args.fit}, calibration {args.cal}, test {args.test} (dataset seeds "
        f"{SEEDS['fit']}+, {SEEDS['cal']}+, {SEEDS['test']}+: disjoint people); features "
        f"{means.shape[1]}-d; shrinkage {', '.join(f'{g[2]:.4f}' for g in gaussians)}\n"
    )
    quantiles = ", ".join(f"{q:.2f}" for q in cal_q)
    print(
        f"threshold {threshold:.2f} (per-framing {args.quantile:.1%} quantiles on calibration renders: {quantiles})\n"
    )
    print("| test renders | false-alarm rate |\n|---|---|")
    for name, v in far.items():
        print(f"| {name} ({args.test}) | {pct(v)} |")
    print(f"| all ({args.test * len(FRAMINGS)}) | {pct(far_all)} |")
    for name, v in dataset_far.items():
        print(f"| {name} test split ({v['images']}) | {pct(v['false_alarm_rate'])} |")
    rate, originals = pct(float(detected.mean())), pct(float(detected[:, 0].mean()))
    print(f"\ndetection rate on photographs: {rate} of {detected.size} pictures ({len(photos)} photographs x "
          f"{len(VARIANTS)} variants); originals: {originals}\n")  # fmt: skip
    print("| photograph | original score | detected (of 11) |\n|---|---|---|")
    for (name, s), d in zip(photo_scores.items(), detected, strict=True):
        print(f"| {name} | {s[0]:.1f} | {int(d.sum())} |")
    print("\n| variant | detected |\n|---|---|")
    for k, name in enumerate(VARIANTS):
        print(f"| {name} | {pct(float(detected[:, k].mean()))} |")
    print("\nsynthetic pictures (scores): " + ", ".join(f"{n} {s:.1f}" for n, s in graphic_scores.items()))
    print(f"\none check of a 512x512 photograph: {ms:.1f} ms (torch threads 1)")

    if args.compare:
        compare(net, feats, photo_feats, sets, photos, args.quantile)
    print(f"\n({time.perf_counter() - t0:.0f} s in all)")
    if args.no_write:
        return
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / STATS_FILE, save(stored, metadata={"kind": "domain-check"}))
    commit = git_commit(Path(__file__).resolve().parent)
    config = {
        "kind": "domain-check",
        "network": {"asset": NETWORK, "tensor_sha256": export_tensor_hash(model_path(f"asset:{NETWORK}"))},
        "features": "backbone stages 5 and 6 (conv4, conv5) averaged over the picture's own pixels "
        "(fashionlab.models.domain.domain_features)",
        "score": "Mahalanobis distance to the nearest framing's Gaussian (Ledoit-Wolf shrunk covariance)",
        "threshold": round(threshold, 4),
        "framings": [
            {
                "name": f[0],
                "size": list(f[1]),
                "framing": f[2],
                "pose_range": f[3],
                "pose_variants": f[4],
                "region_mix": 0.15,
            }
            for f in FRAMINGS
        ],
        "calibration": {
            "renders_per_framing": {"fit": args.fit, "cal": args.cal, "test": args.test},
            "dataset_seeds": {k: [v + j for j in range(len(FRAMINGS))] for k, v in SEEDS.items()},
            "quantile": args.quantile,
        },
        "measured": {
            "date": str(date.today()),
            "false_alarm_rate": {**far, "all": far_all},
            "false_alarm_rate_datasets": dataset_far,
            "detection_rate_photographs": float(detected.mean()),
            "detection_rate_originals": float(detected[:, 0].mean()),
            "pictures": int(detected.size),
            "ms_per_check": round(ms, 1),
        },
        "storage": {"dtype": "fp16", **storage},
        "provenance": {
            "git_commit": commit.removesuffix("-dirty") if commit else None,
            **({"dirty": True} if commit and commit.endswith("-dirty") else {}),
            "command": shlex.join(["python", *sys.argv]),
        },
    }
    atomic_write_text(out / "config.json", json.dumps(config, indent=2) + "\n")
    print(f"wrote {out}")


def compare(net, feats, photo_feats, sets, photos, quantile: float) -> None:
    """The detection rate at the same false-alarm calibration for the scores the shipped one was chosen over."""

    def report(name: str, cal: list[np.ndarray], photo: list[np.ndarray]) -> None:
        thr = max(float(np.quantile(c, quantile)) for c in cal)
        print(f"| {name} | {pct(float(np.mean(np.concatenate([p > thr for p in photo]))))} |")

    def nearest(gs, x):
        return np.min([mahalanobis(x, m, p) for m, p, _ in gs], axis=0)

    def knn(bank, x):
        q = torch.nn.functional.normalize(torch.from_numpy(x).float(), dim=1)
        return (1 - (q @ bank.T).topk(5, dim=1).values.mean(1)).numpy()

    @torch.no_grad()
    def pooled(images):
        batches = [
            torch.stack([net.preprocess.image(im) for im in images[k : k + 64]]) for k in range(0, len(images), 64)
        ]
        return np.concatenate([net.features(x, "pooled").double().numpy() for x in batches])

    print(
        f"\n| score (same renders; threshold: the largest per-framing {quantile:.1%} calibration quantile) | detected |"
    )
    print("|---|---|")
    photo = list(photo_feats.values())
    gs = [shrunk_gaussian(f) for f in feats["fit"]]
    report("shipped: content-averaged conv4+conv5, nearest of 4 Gaussians", [nearest(gs, f) for f in feats["cal"]],
           [nearest(gs, f) for f in photo])  # fmt: skip
    one = [shrunk_gaussian(np.concatenate(feats["fit"]))]
    report("same features, one Gaussian for all framings", [nearest(one, f) for f in feats["cal"]],
           [nearest(one, f) for f in photo])  # fmt: skip
    bank = torch.nn.functional.normalize(torch.from_numpy(np.concatenate(feats["fit"])).float(), dim=1)
    report("same features, 5-NN cosine distance", [knn(bank, f) for f in feats["cal"]], [knn(bank, f) for f in photo])
    pf, pc = [pooled(im) for im in sets["fit"]], [pooled(im) for im in sets["cal"]]
    pp = [pooled(variants(im)) for im in photos.values()]
    one = [shrunk_gaussian(np.concatenate(pf))]
    report("the network's pooled conv7 embedding, one Gaussian", [nearest(one, f) for f in pc],
           [nearest(one, f) for f in pp])  # fmt: skip
    gs = [shrunk_gaussian(f) for f in pf]
    report("pooled conv7 embedding, nearest of 4 Gaussians", [nearest(gs, f) for f in pc], [nearest(gs, f) for f in pp])


if __name__ == "__main__":
    main()
