"""Where an export came from: the ``provenance`` block of its ``config.json``.

The trainer fills it when it exports (:func:`build_provenance` from the run's ``run.json`` sessions): the
git commit the code came from (``dirty: true`` when tracked files had uncommitted changes), the steps
trained, the seed, a fingerprint of the training data (:func:`data_fingerprint`) and the command line of
every session (the first started the run, the others resumed it). Shipped models that predate it carry
the same block filled from their model cards, marked ``"recorded": "from the model card"``.
"""

from __future__ import annotations

import hashlib
import shlex
import time
from pathlib import Path
from typing import Any

from ..data.format import ITEMS_FILE, SCHEMA_FILE


def data_fingerprint(root: str | Path | None) -> dict[str, Any] | None:
    """``{"path", "sha256", "items"}`` of a dataset folder: SHA-256 over its ``dataset.json``, ``items.jsonl``
    and pose-pair lists (``pairs-*.csv``), i.e. the schema and the listing of every item with its labels,
    not the image files. None when ``root`` is empty or not a dataset folder."""
    if not root:
        return None
    root = Path(root)
    files = [root / SCHEMA_FILE, root / ITEMS_FILE, *sorted(root.glob("pairs-*.csv"))]
    if not all(f.is_file() for f in files[:2]):
        return None
    h = hashlib.sha256()
    items = 0
    for f in files:
        data = f.read_bytes()
        h.update(f.name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
        if f.name == ITEMS_FILE:
            items = sum(1 for line in data.splitlines() if line.strip())
    return {"path": str(root.resolve()), "sha256": h.hexdigest(), "items": items}


def command_line(argv: list[str]) -> str:
    """A session's ``argv`` as a shell command (the program by its name, not its install path)."""
    if not argv:
        return ""
    return shlex.join([Path(argv[0]).name, *argv[1:]])


def split_commit(commit: str | None) -> tuple[str | None, bool]:
    """``"abc123-dirty"`` -> ``("abc123", True)``; ``None`` (not in git) -> ``(None, False)``."""
    if not commit:
        return None, False
    return commit.removesuffix("-dirty"), commit.endswith("-dirty")


def build_provenance(
    sessions: list[dict[str, Any]], *, steps: int, seed: int, data: str | Path | None = None
) -> dict[str, Any]:
    """The ``provenance`` block of a run's export from its ``run.json`` sessions (see the module docstring)."""
    commits = [split_commit(s.get("git_commit")) for s in sessions]
    commit, _ = commits[-1] if commits else (None, False)
    out: dict[str, Any] = {
        "git_commit": commit,
        "steps": int(steps),
        "seed": int(seed),
        "data": data_fingerprint(data),
        "command": command_line(sessions[0].get("argv", [])) if sessions else "",
        "exported": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if any(dirty for _, dirty in commits):
        out["dirty"] = True
    if len(sessions) > 1:
        out["resumed_with"] = [command_line(s.get("argv", [])) for s in sessions[1:]]
        if len({c for c, _ in commits}) > 1:
            out["git_commits"] = [c for c, _ in commits]  # one per session
    return out
