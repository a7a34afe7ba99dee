"""Where results go: a new (or empty) folder, created only when the first result is written, with one
unique file name per input. A run that fails before writing anything leaves no folder behind; nothing a
user made is overwritten."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError, OutputExistsError


def check_output_dir(path: Path, option: str = "--out") -> None:
    """Refuse, before any work, an output path that is a file or a folder that is not empty."""
    if path.exists() and not path.is_dir():
        raise InputError("this is a file; expected a new folder for the results", path=path, field=option)
    if path.is_dir() and any(path.iterdir()):
        raise OutputExistsError(f"{path} exists and is not empty; choose a new {option}")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InputError(f"{parent} is a file, so {path} cannot be made", path=path, field=option)


class OutputFolder:
    """A results folder (checked by :func:`check_output_dir`) that is made on the first :meth:`path` call
    and gives each input a unique file stem (``photo``, ``photo-2`` for a second ``photo.jpg`` from
    another folder)."""

    def __init__(self, root: Path, option: str = "--out"):
        check_output_dir(root, option)
        self.root = root
        self._stems: set[str] = set()

    def stem(self, source: Path | str) -> str:
        """A stem no earlier input of this folder got."""
        base = Path(source).stem
        stem, k = base, 2
        while stem in self._stems:
            stem, k = f"{base}-{k}", k + 1
        self._stems.add(stem)
        return stem

    def path(self, name: str) -> Path:
        """``root/name``, making the folder first if needed."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / name

    @property
    def made(self) -> bool:
        return self.root.is_dir()
