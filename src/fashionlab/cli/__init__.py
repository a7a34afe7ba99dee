"""The ``fashionlab`` command. Commands are thin: each parses options and calls a library function."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import FashionlabError
from .data import data_app
from .demo import demo
from .edit import edit
from .evaluate import eval_app
from .evaluate_pose import eval_pose  # noqa: F401 - adds `eval pose` to eval_app
from .export import export
from .pose import pose
from .search import index_app, predict, search
from .serve import serve
from .train import models, train

app = typer.Typer(
    name="fashionlab",
    help="Understand, search, edit and re-pose fashion images; SynthFashion ground truth built in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_app, name="data")
app.command("demo")(demo)
app.command("train")(train)
app.command("models")(models)
app.command("export")(export)
app.command("predict")(predict)
app.command("search")(search)
app.command("edit")(edit)
app.command("pose")(pose)
app.command("serve")(serve)
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")

err = Console(stderr=True, highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: user errors are printed plainly, without a traceback."""
    try:
        app(args=argv, standalone_mode=True)
    except FashionlabError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", markup=True, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
