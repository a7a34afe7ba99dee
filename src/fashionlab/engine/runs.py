"""Output folders that never overwrite what a user made."""

from __future__ import annotations

from pathlib import Path


def next_free_dir(parent: str | Path, prefix: str = "run") -> Path:
    """Create and return ``parent/<prefix>-NNN`` with the next unused number (atomic ``mkdir``)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    used = [int(p.name.rsplit("-", 1)[1]) for p in parent.glob(f"{prefix}-*") if p.name.rsplit("-", 1)[1].isdigit()]
    k = max(used, default=0) + 1
    while True:
        path = parent / f"{prefix}-{k:03d}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            k += 1


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The git commit of the working tree (with ``-dirty`` when it has changes), or None outside git."""
    import subprocess

    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
