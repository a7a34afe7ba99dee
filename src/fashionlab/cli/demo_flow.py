"""The studio's flow, run once without a browser (``DEMO_HEADLESS=1 make demo``): predict, search, edit,
region edit, re-pose and search with an edit on SynthFashion pictures and on a real photograph, through the
same use cases the studio and the API call; every output is written and listed in ``report.html``."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError


@dataclass
class Section:
    """One picture's part of the report: rows of (what, text or image path)."""

    title: str
    rows: list[tuple[str, str | Path]] = field(default_factory=list)


def real_photograph() -> tuple[np.ndarray, str] | None:
    """A real photograph (scikit-image's ``astronaut``, public domain, shipped in its wheel) or None."""
    try:
        from skimage import data
    except ImportError:
        return None
    return data.astronaut(), "scikit-image's astronaut (a real photograph, 512x512)"


def _save(folder: Path, name: str, rgb: np.ndarray) -> Path:
    path = folder / name
    Image.fromarray(np.ascontiguousarray(rgb)).save(path)
    return path


def _strip(photos: list[np.ndarray], height: int = 128) -> np.ndarray:
    tiles = [
        np.asarray(Image.fromarray(p).resize((max(1, round(p.shape[1] * height / p.shape[0])), height))) for p in photos
    ]
    gap = np.full((height, 4, 3), 255, np.uint8)
    return np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)


def picture_flow(folder: Path, name: str, photo: np.ndarray, caption: str, searcher, editor, reposer) -> Section:
    """Every use case on one picture; failures are reported as what the user would be told."""
    from ..usecases.edit import edit_images
    from ..usecases.pose import repose_images
    from ..usecases.predict import attention_maps, predict_attributes
    from ..usecases.search import search_photo, search_with_edit

    sec = Section(f"{name}: {caption}")
    sec.rows.append(("input", _save(folder, f"{name}.png", photo)))
    net = searcher.model
    pred = predict_attributes(net, photo, top=1)
    read = {k: v[0][0] for k, v in pred.attributes.items()}
    sec.rows.append(
        ("attributes read", ", ".join(f"{k}={v[0][0]} ({v[0][1]:.0%})" for k, v in pred.attributes.items()))
    )
    sec.rows.append(
        ("domain check", pred.domain.message or f"usual (score {pred.domain.score:.2f} <= {pred.domain.threshold:.2f})")
    )
    maps = list(attention_maps(net, photo, ["sleeve", "color", "collar"]).values())
    sec.rows.append(("where sleeve, color, collar live", _save(folder, f"{name}-maps.png", _strip(maps))))

    def hit_images(hits):
        from ..data.imaging import load_rgb

        return [load_rgb(h.item.image) for h in hits]

    similar = search_photo(searcher, photo, k=5)
    sec.rows.append(("similar items", _save(folder, f"{name}-similar.png", _strip([photo, *hit_images(similar)]))))
    sleeve = "sleeveless" if read.get("sleeve") != "sleeveless" else "long"
    changed = search_photo(searcher, photo, {"sleeve": sleeve}, k=5)
    sec.rows.append(
        (
            f"this, but sleeve={sleeve}",
            _save(folder, f"{name}-search-change.png", _strip([photo, *hit_images(changed)])),
        )
    )
    color = "red" if read.get("color") != "red" else "blue"
    (edited,) = edit_images(editor, [photo], {"color": color})
    (regional,) = edit_images(editor, [photo], {"color": color}, region="sleeves")
    edits = _strip([photo, edited.image, regional.image])
    what = f"edit color={color}; the same on the sleeves only (region found at threshold {editor.region_threshold})"
    sec.rows.append((what, _save(folder, f"{name}-edits.png", edits)))
    for note in dict.fromkeys(edited.notes + regional.notes):
        sec.rows.append(("note", note))
    found = search_with_edit(searcher, editor, photo, {"color": color}, k=5)
    like_edit = _strip([found.edited.image, *hit_images(found.hits)])
    sec.rows.append(
        (
            f"items like my edit (color={color}, the edit is the query)",
            _save(folder, f"{name}-search-edit.png", like_edit),
        )
    )
    if reposer is not None and (photo.shape[0] > photo.shape[1] or name == "photograph"):  # people head to feet
        from ..serve.state import POSE_FRAME, pose_gallery

        target, frame = pose_gallery()[2], POSE_FRAME  # the studio's third gallery pose
        try:
            (posed,) = repose_images(reposer, [photo], [target], target_frame=frame, domain_check=False)
            sec.rows.append(
                ("re-posed (source, result)", _save(folder, f"{name}-pose.png", _strip([photo, posed.image], 256)))
            )
        except InputError as e:
            sec.rows.append(("re-pose", f"refused: {e.message}"))
    return sec


def write_report(path: Path, title: str, sections: list[Section], intro: str) -> Path:
    """A small self-contained HTML page of the sections (images referenced by relative path)."""
    parts = [f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font:15px system-ui;max-width:1100px;margin:24px auto;padding:0 12px}"
             "img{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}td{padding:6px;vertical-align:top}"
             "</style>", f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"]  # fmt: skip
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2><table>")
        for what, value in sec.rows:
            if isinstance(value, Path):
                rel = html.escape(value.relative_to(path.parent).as_posix())
                cell = f"<img src='{rel}' alt='{html.escape(what)}'>"
            else:
                cell = html.escape(value)
            parts.append(f"<tr><th scope='row' style='text-align:left'>{html.escape(what)}</th><td>{cell}</td></tr>")
        parts.append("</table>")
    path.write_text("\n".join(parts) + "\n</html>\n")
    return path


def flow_demo(run: Path, searcher, pictures: list[tuple[str, np.ndarray, str]]) -> Path:
    """Run :func:`picture_flow` on each (name, picture, caption) with the shipped editor and re-posing model,
    write ``run/flow/`` and ``run/report.html``; returns the report's path."""
    from ..models.registry import load
    from .demo_edit import SHIPPED_EDITOR
    from .demo_pose import SHIPPED_REPOSER

    folder = run / "flow"
    folder.mkdir(parents=True, exist_ok=True)
    editor = load(f"asset:{SHIPPED_EDITOR}")
    reposer = load(f"asset:{SHIPPED_REPOSER}")
    sections = [picture_flow(folder, name, pic, caption, searcher, editor, reposer) for name, pic, caption in pictures]
    intro = (
        "Each picture goes through what the studio does: attributes and where they live, the domain check, "
        "search (similar, with a change, like my edit), an edit and a region edit (shipped AMGAN, 64 px, pasted "
        "back at the picture's size) and a re-pose (shipped Deformable GAN, 128x64). The shipped models know "
        "SynthFashion only: on the real photograph the domain check says so, and the results are meaningless by "
        "design."
    )
    return write_report(run / "report.html", "fashionlab demo", sections, intro)
