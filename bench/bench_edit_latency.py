"""Edit latency and throughput of an editor as users run it (``Editor.edit`` and ``edit_files``).

    python bench/bench_edit_latency.py --model runs-edit/amgan/run-001 --threads 2
    python bench/bench_edit_latency.py --untrained amgan --image-size 128 --classifier asset:attrnet-synth128

``--untrained KIND`` builds the ``cpu`` preset's generator of KIND at ``--image-size`` with random weights
(latency does not depend on the weights) next to a shipped attribute network of that size, which reads a
photo's current attributes as in real use. Measures, after warm-up, the median over ``--repeat`` runs:

- one image at the model's size: ``editor.edit`` alone (the attribute network's reading included);
- one photo of ``--photo`` px (a SynthFashion image upscaled, PNG on disk): ``edit_files`` end to end (read,
  fit, edit, paste back at full resolution through the mask);
- batched ``editor.edit`` at ``--batch`` images: images/s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image


def _untrained(kind: str, size: int, classifier: str):
    from fashionlab.config import resolve_config
    from fashionlab.data.imaging import Preprocess
    from fashionlab.models import MODELS, load
    from fashionlab.models.editing.editor import Editor
    from fashionlab.models.editing.networks import Generator
    from fashionlab.synth.attributes import ATTRIBUTES

    cfg = resolve_config(MODELS.get(kind).config, model=kind, preset="cpu", overrides=[])
    attrs = [(k, list(v)) for k, v in ATTRIBUTES.items()]
    code_dim = sum(len(v) for _, v in attrs) + len(attrs)
    G = Generator(code_dim, cfg.model.generator)
    clf = load(classifier)
    return Editor(kind, attrs, G, Preprocess((size, size), "fit"), clf).eval()


def _median_ms(fn, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="an editor export or run folder")
    ap.add_argument("--untrained", choices=["amgan", "stargan"], help="the cpu preset's architecture, random weights")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--classifier", default="asset:attrnet-synth128", help="with --untrained: reads attributes")
    ap.add_argument("--photo", type=int, default=512, help="side of the photo for the end-to-end timing")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--set", default="color=red", help="the edit, ATTRIBUTE=VALUE")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import fashionlab
    from fashionlab.synth.render import render
    from fashionlab.usecases.edit import edit_files

    editor = (
        _untrained(args.untrained, args.image_size, args.classifier) if args.untrained else fashionlab.load(args.model)
    )
    attribute, value = args.set.split("=", 1)
    settings = {attribute: value}
    h, w = editor.preprocess.size
    photo = render(7, {"sleeve": "long", "color": "blue", "pattern": "solid", "collar": "crew", "fastening": "none"},
                   size=256).image  # fmt: skip
    x1 = editor.preprocess.image(photo)[None]
    with torch.inference_mode():
        one = _median_ms(lambda: editor.edit(x1, settings), args.repeat)
        xb = x1.expand(args.batch, -1, -1, -1).contiguous()
        batch_ms = _median_ms(lambda: editor.edit(xb, settings), max(3, args.repeat // 4), warmup=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.png"
        Image.fromarray(photo).resize((args.photo, args.photo), Image.BICUBIC).save(path)
        e2e = _median_ms(
            lambda: list(edit_files(editor, [path], settings, progress=False, domain_check=False)), args.repeat
        )
    print(
        f"{editor.kind} {h}x{w} (threads {torch.get_num_threads()}, attention {editor.has_attention}): "
        f"one image {one:.1f} ms; one {args.photo} px photo end to end {e2e:.1f} ms; "
        f"batch {args.batch}: {1000 * args.batch / batch_ms:.1f} images/s"
    )


if __name__ == "__main__":
    main()
