"""bench/edit_comparison.sh with a stand-in `fashionlab` (a script that records its calls and writes what the
real command would): the 13 trainings in two lanes, KEEP=DIR relative to where the script is called, a second
call that trains nothing and scores the kept copies, and the ablation table at the end. The real trainings
take hours; what breaks here is the orchestration (which run is trained, kept, skipped and scored)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# the stand-in: `data synth --out X` makes X; `train MODEL --out OUT ...` makes OUT/MODEL/run-001 with an
# export; `eval compare NAME=PATH ... --out O` writes O/comparison.md and a reports.json with one row per NAME
# (manipulation and edit gain made up from the name); `eval region ... --out O` writes O/regions.md
STAND_IN = r"""
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps({"cwd": os.getcwd(), "args": args}) + "\n")
def opt(name):
    return args[args.index(name) + 1]
if args[:2] == ["data", "synth"]:
    Path(opt("--out")).mkdir(parents=True)
elif args[0] == "train":
    assert "--resume" not in args, args
    run = Path(opt("--out")) / args[1] / "run-001"
    (run / "export").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    (run / "export" / "model.safetensors").write_bytes(b"weights")
    for name in ("config.json", "run.json", "stats.jsonl"):
        (run / name).write_text("{}")
elif args[:2] == ["eval", "compare"]:
    out = Path(opt("--out"))
    out.mkdir()
    evaluators = [args[i + 1] for i, a in enumerate(args) if a == "--evaluator"]
    rows = []
    for k, a in enumerate(x for x in args[2:] if "=" in x and not x.startswith("-")):
        name, path = a.split("=", 1)
        assert (Path(path) / "export" / "model.safetensors").is_file(), path
        manipulation = 0.9 - 0.05 * k
        rows.append({"name": name, "path": path,
                     "by_evaluator": {e: {"manipulation": {"mean": manipulation}} for e in evaluators},
                     "gt": {"closer": {"mean": 0.5}}})
    (out / "reports.json").write_text(json.dumps(rows))
    (out / "comparison.md").write_text("| rows |\n")
elif args[:2] == ["eval", "region"]:
    out = Path(opt("--out"))
    out.mkdir()
    (out / "regions.md").write_text("| regions |\n")
else:
    raise SystemExit(f"stand-in: unexpected call {args}")
"""

RUNS = {
    "amgan", "ganimation", "paired", "no-dc-lp", "cam-mask", "resgan-fastening", "resgan-pattern",
    "stargan", "sagan", "no-dc", "no-dc-lp-la", "resgan-sleeve", "resgan-color",
}  # fmt: skip


def _stand_in(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fl = bin_dir / "fashionlab"
    fl.write_text(f"#!{sys.executable}\n{STAND_IN}")
    fl.chmod(fl.stat().st_mode | stat.S_IXUSR)
    (bin_dir / "python").symlink_to(sys.executable)  # the script runs bench/ablation_table.py with it
    return fl


def _run(tmp_path: Path, fl: Path, calls: Path, jobs: int) -> tuple[str, list[dict]]:
    calls.write_text("")
    env = {**os.environ, "FL": str(fl), "KEEP": "kept", "JOBS": str(jobs), "CALLS": str(calls)}
    done = subprocess.run(
        ["bash", str(REPO / "bench" / "edit_comparison.sh"), "work"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, [json.loads(line) for line in calls.read_text().splitlines()]


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("realpath") is None, reason="needs bash")
def test_edit_comparison_trains_keeps_and_scores_each_run_once(tmp_path):
    fl = _stand_in(tmp_path)
    calls_file = tmp_path / "calls.jsonl"
    stdout, calls = _run(tmp_path, fl, calls_file, jobs=2)
    trained = [c["args"] for c in calls if c["args"][0] == "train"]
    names = {Path(a[a.index("--out") + 1]).name for a in trained}
    assert len(trained) == 13 and names == RUNS
    # every training runs in WORKDIR on the editors' data with the cpu preset, and the ablations get their config
    assert all(a[a.index("--preset") + 1] == "cpu" and a[a.index("--data") + 1] == "sf64" for a in trained)
    by_name = {Path(a[a.index("--out") + 1]).name: a for a in trained}
    assert "model.use_dc=false" in by_name["no-dc-lp-la"] and "loss.attention=0" in by_name["no-dc-lp-la"]
    assert "contrast=color=red,blue" in by_name["resgan-color"]
    # KEEP=kept is beside where the script was called, not inside WORKDIR
    kept = tmp_path / "kept"
    assert {p.name for p in kept.iterdir()} == RUNS and not (tmp_path / "work" / "kept").exists()
    for name in RUNS:
        assert sorted(p.name for p in (kept / name).iterdir()) == [
            "config.json", "export", "run.json", "stats.jsonl",
        ]  # fmt: skip
    compares = [c["args"] for c in calls if c["args"][:2] == ["eval", "compare"]]
    assert len(compares) == 6  # sf64, the unseen seed, and the four ResGAN contrasts
    # the ablation table in the paper's form, from the stand-in's reports, for both test sets
    assert stdout.count("| AMGAN, CAM as mask |") == 2 and "+5.43 / +6.34" in stdout

    # a second call in a fresh WORKDIR (another machine: only the kept folder survived) trains nothing and
    # scores the kept copies
    shutil.rmtree(tmp_path / "work")
    _, calls = _run(tmp_path, fl, calls_file, jobs=1)
    assert not [c for c in calls if c["args"][0] == "train"]
    compared = [a for c in calls if c["args"][:2] == ["eval", "compare"] for a in c["args"] if "=" in a]
    assert compared and all(str(kept) in a.split("=", 1)[1] for a in compared if not a.startswith("-"))
