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


def test_help_on_every_command():
    for args in (
        [],
        ["data"],
        ["data", "synth"],
        ["data", "check"],
        ["data", "sheet"],
        ["data", "pack"],
        ["data", "import"],
        ["data", "render"],
        ["demo"],
    ):
        r = run(*args, "--help")
        assert r.returncode == 0, (args, r.stderr)
        assert "Usage" in r.stdout


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
    assert img.width > 12 * 48 and img.height > 5 * 48  # 12 colours wide, 5 attribute rows + masks
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
