"""What the edit path keeps of the generator's edit: manipulation accuracy, read by an independent evaluator,
of the same single-attribute edits of SynthFashion test images taken four ways:

- the generator's output at the model's size (the editor's own blend ``mask * colour + (1 - mask) * x``);
- ``fashionlab edit``'s path (:func:`fashionlab.usecases.edit.edit_images`) on the same 64 px photos;
- the same path on the photos re-rendered at ``--photo`` px (exactly the same people, garments and poses),
  the result read after fitting it back to the evaluator's size;
- the path of fashionlab <= 0.1 (the mask applied again at paste-back: a mask-squared blend), at both sizes;
- the alternative of adding the upsampled change ``y - x`` to the big photo (it keeps the photo's detail, and
  with it the old pattern under a pattern edit).

    python bench/bench_edit_path.py --data sf64 --images 120     # 600 edits, a few minutes on one core
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image


def old_paste_back(photo: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """fashionlab <= 0.1: mask * upsampled edited + (1 - mask) * photo (with the mask already in ``edited``)."""
    size = (photo.shape[1], photo.shape[0])
    up = np.asarray(Image.fromarray(edited).resize(size, Image.BILINEAR), np.float32)
    m = np.clip(np.asarray(Image.fromarray(mask.astype(np.float32), mode="F").resize(size, Image.BILINEAR)), 0, 1)
    return np.clip(np.round(m[..., None] * up + (1 - m[..., None]) * photo), 0, 255).astype(np.uint8)


def add_change(photo: np.ndarray, x: np.ndarray, edited: np.ndarray) -> np.ndarray:
    """The alternative measured against: photo + up(edited - x) (keeps the photo's fine detail under the edit)."""
    size = (photo.shape[1], photo.shape[0])
    change = edited.astype(np.float32) - x.astype(np.float32)
    up = np.stack(
        [np.asarray(Image.fromarray(change[..., c], mode="F").resize(size, Image.BILINEAR)) for c in range(3)], -1
    )
    return np.clip(np.round(photo + up), 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="asset:amgan-synth64")
    ap.add_argument("--evaluator", default="asset:attrnet-synth64-eval")
    ap.add_argument("--data", required=True, help="a SynthFashion dataset at the editor's size (its test split)")
    ap.add_argument("--images", type=int, default=120, help="test images; each gets one edit per attribute")
    ap.add_argument("--photo", type=int, default=256, help="side of the re-rendered photos")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import fashionlab
    from fashionlab.data.format import load_dataset
    from fashionlab.data.imaging import denormalise, load_rgb, resize_rgb
    from fashionlab.metrics.editing import plan_edits
    from fashionlab.synth.ground_truth import item_render_args
    from fashionlab.synth.render import render
    from fashionlab.usecases.edit import edit_images

    editor, evaluator = fashionlab.load(args.model), fashionlab.load(args.evaluator)
    ds = load_dataset(args.data)
    items = [it for it in ds.items if it.split == "test"][: args.images]
    names = [n for n, _ in editor.space.attributes]
    labels = np.array([[editor.space.attributes[a][1].index(it.attributes[n]) for a, n in enumerate(names)]
                       for it in items])  # fmt: skip
    plan = plan_edits(labels, editor.space.sizes, seed=args.seed)
    ways = ["generator output (64 px)", "edit path, 64 px photos", f"edit path, {args.photo} px photos",
            "old path (mask twice), 64 px", f"old path (mask twice), {args.photo} px",
            f"adding the upsampled change, {args.photo} px"]  # fmt: skip
    read = {w: [] for w in ways}
    photos64 = [load_rgb(ds.image_path(it)) for it in items]
    big = {}
    for k, (i, a, v) in enumerate(zip(plan.rows, plan.attributes, plan.values, strict=True)):
        item, attr, value = items[i], names[a], editor.space.attributes[a][1][v]
        photo = photos64[i]
        x = editor.preprocess.image(photo)[None]
        with torch.no_grad():
            result = editor.edit(x, {attr: value}, labels=torch.from_numpy(labels[i : i + 1]))
        generator = denormalise(result.images[0])
        mask = result.masks[0, 0].numpy()
        (path64,) = edit_images(editor, [photo], {attr: value}, domain_check=False)
        if i not in big:
            r = item_render_args(item)
            big[i] = render(r["seed"], r["attributes"], r["pose"], size=args.photo, framing=r["framing"],
                            regions=r["regions"]).image  # fmt: skip
        (path_big,) = edit_images(editor, [big[i]], {attr: value}, domain_check=False)
        small = resize_rgb(big[i], editor.preprocess.size, editor.preprocess.resize)  # what the model sees of it
        with torch.no_grad():
            result_big = editor.edit(
                editor.preprocess.image(small)[None], {attr: value}, labels=torch.from_numpy(labels[i : i + 1])
            )
        generator_big, mask_big = denormalise(result_big.images[0]), result_big.masks[0, 0].numpy()
        size = editor.preprocess.size
        outs = [
            generator,
            path64.image,
            resize_rgb(path_big.image, size, "fit"),
            old_paste_back(photo, generator, mask),
            resize_rgb(old_paste_back(big[i], generator_big, mask_big), size, "fit"),
            resize_rgb(add_change(big[i], small, generator_big), size, "fit"),
        ]
        batch = torch.stack([evaluator.preprocess.image(o) for o in outs])
        with torch.no_grad():
            probs = evaluator.predict(batch)
        a_eval = [n for n, _ in evaluator.attributes].index(attr)
        want = evaluator.attributes[a_eval][1].index(value)
        for w, p in zip(ways, probs[a_eval].argmax(1).tolist(), strict=True):
            read[w].append((attr, p == want))
        if (k + 1) % 100 == 0:
            print(f"{k + 1}/{len(plan.rows)} edits", flush=True)
    what = f"{len(plan.rows)} single-attribute edits of {len(items)} test images of {args.data}"
    print(f"\n{what}, read by {args.evaluator}\n")
    print("| way | " + " | ".join(names) + " | mean |")
    print("|---|" + "---|" * (len(names) + 1))
    for w in ways:
        per = [np.mean([ok for n, ok in read[w] if n == name]) for name in names]
        print(
            f"| {w} | "
            + " | ".join(f"{100 * p:.1f}" for p in per)
            + f" | {100 * np.mean([ok for _, ok in read[w]]):.1f} |"
        )


if __name__ == "__main__":
    main()
