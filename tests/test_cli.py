"""The `fashionlab` command as a user runs it: real processes, real files, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

EXE = [sys.executable, "-m", "fashionlab"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def _commands(command, path=()):
    """(argument path, click command) of ``command`` and of every command and group below it."""
    yield list(path), command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_help_on_every_command():
    """Every command and group of the app, found by walking it (a new command is covered without listing it):
    ``--help`` exits 0 and shows the command's own options, and a group's its subcommands."""
    import typer
    from typer.testing import CliRunner

    from fashionlab.cli import app

    r = run("--help")  # the installed entry point, as a user runs it
    assert r.returncode == 0 and "Usage" in r.stdout, r.stderr
    commands = list(_commands(typer.main.get_command(app)))
    assert {" ".join(p) for p, _ in commands} >= {"data import", "eval pose", "index add", "train", "pose"}
    runner = CliRunner()
    for path, command in commands:
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
        assert res.exit_code == 0, (path, res.output)
        assert "Usage" in res.output, path
        options = [o for p in command.params if p.param_type_name == "option" for o in p.opts]
        assert [o for o in options if o not in res.output] == [], (path, res.output)
        assert [n for n in getattr(command, "commands", {}) if n not in res.output] == [], (path, res.output)


def test_synth_check_sheet(tmp_path):
    ds = tmp_path / "ds"
    r = run(
        "data",
        "synth",
        "--out",
        str(ds),
        "--n",
        "40",
        "--size",
        "64",
        "--workers",
        "1",
        "--holdout",
        "color=red,sleeve=long",
        "--region-mix",
        "0.3",
    )
    assert r.returncode == 0, r.stderr
    assert (ds / "dataset.json").is_file() and len((ds / "items.jsonl").read_text().splitlines()) == 40
    r = run("data", "check", str(ds))
    assert r.returncode == 0, r.stdout + r.stderr
    r = run("data", "sheet", str(ds), "--out", str(tmp_path / "sheet.png"), "--tile", "48")
    assert r.returncode == 0, r.stderr
    img = Image.open(tmp_path / "sheet.png")
    # a label column (tile + 10) and 12 colours of (tile + 4) px; 5 attribute rows, masks and keypoints,
    # each a tile and a 16 px caption, 4 px apart, under a 30 px title
    assert img.size == (48 + 10 + 12 * (48 + 4), 7 * (48 + 16 + 4) + 30)
    # a second sheet to the same path refuses without --overwrite
    r = run("data", "sheet", str(ds), "--out", str(tmp_path / "sheet.png"))
    assert r.returncode == 2 and "exists" in r.stderr
    # a second synth into the same folder refuses and leaves the first intact
    before = (ds / "items.jsonl").read_text()
    r = run("data", "synth", "--out", str(ds), "--n", "5", "--size", "64")
    assert r.returncode == 2 and "not empty" in r.stderr and "Traceback" not in r.stderr
    assert (ds / "items.jsonl").read_text() == before


@pytest.mark.parametrize(
    "args, expected",
    [
        (["data", "synth", "--out", "x", "--size", "12x"], "size"),
        (["data", "synth", "--out", "x", "--holdout", "colour=red"], "colour"),
        (["data", "synth", "--out", "x", "--split", "0.5,0.5"], "three"),
        (["data", "render", "--out", "x.png", "--set", "sleeve=huge"], "huge"),
        (["data", "check", "no-such-dir"], "not a directory"),
        (["data", "sheet", "no-such-dir", "--out", "s.png"], "not a directory"),
        (["data", "import", "deepfashion", "src", "--out", "o"], "unknown importer"),
    ],
)
def test_bad_input_gives_a_clear_message(tmp_path, args, expected):
    r = run(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert expected in r.stderr + r.stdout, r.stderr  # `data check` prints its report on stdout
    assert "Traceback" not in r.stderr


def test_render_writes_image_and_masks(tmp_path):
    r = run(
        "data",
        "render",
        "--seed",
        "5",
        "--set",
        "sleeve=long,color=red",
        "--sleeves",
        "color=navy",
        "--size",
        "128x64",
        "--out",
        str(tmp_path / "one.png"),
    )
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "one.png").size == (64, 128)
    assert Image.open(tmp_path / "one.masks.png").size == (64, 128)


def test_train_resume_with_overrides_updates_the_run_config(tmp_path):
    """`train --resume RUN train.steps=N` continues the same run to N steps, and the run's config.json and
    run.json say so (the overrides of a resumed session are not lost)."""
    import json

    ds = tmp_path / "ds"
    assert run("data", "synth", "--out", str(ds), "--n", "24", "--size", "64", "--workers", "1").returncode == 0
    common = ["--out", str(tmp_path / "runs"), "--no-progress"]
    r = run("train", "attrnet", "--preset", "tiny", "--data", str(ds), *common, "train.steps=2")
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path / "runs" / "attrnet" / "run-001"
    assert json.loads((run_dir / "config.json").read_text())["config"]["train"]["steps"] == 2
    r = run("train", "attrnet", "--resume", str(run_dir), *common, "train.steps=4")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "runs" / "attrnet" / "run-002").exists()
    assert json.loads((run_dir / "config.json").read_text())["config"]["train"]["steps"] == 4
    sessions = json.loads((run_dir / "run.json").read_text())["sessions"]
    assert len(sessions) == 2 and sessions[1]["resumed_from_step"] == 2
    assert sessions[1]["config_changes"] == {"train.steps": [2, 4]}
    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert stats[-1]["step"] == 4
    r = run("train", "attrnet", "--resume", str(run_dir), *common, "model.width=2")  # another architecture
    assert r.returncode != 0 and "Traceback" not in r.stderr and "does not fit this config" in r.stderr
    # a resume that cannot work changes nothing in the run folder
    assert json.loads((run_dir / "config.json").read_text())["config"]["model"]["width"] == 0.125
    assert len(json.loads((run_dir / "run.json").read_text())["sessions"]) == 2
