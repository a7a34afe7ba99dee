"""Errors a user can act on: each one names the file (and line or field) and what was expected."""

from __future__ import annotations

from pathlib import Path


class FashionlabError(Exception):
    """Base class of every error fashionlab raises on purpose (the CLI prints these without a traceback)."""


class InputError(FashionlabError):
    """Bad user input: a file, a line or a field that is not what was expected.

    ``where`` is ``file`` or ``file:line`` and is put first in the message, so the user can jump to it.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None, field: str | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}:{line}"
            if field:
                where += f" [{field}]"
            where += ": "
        elif field:
            where = f"[{field}]: "
        self.message = message
        super().__init__(where + message)


class ProblemList(FashionlabError):
    """Several problems found at once (e.g. by ``fashionlab data check``); ``problems`` keeps them all."""

    def __init__(self, problems: list[InputError], what: str = "input"):
        self.problems = list(problems)
        head = f"{len(self.problems)} problem(s) in {what}:"
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"{head}\n{shown}{more}")


class OutputExistsError(FashionlabError):
    """Refusing to overwrite something a user made (a dataset, a run folder, a catalog)."""
