"""Exports stored in fp16, references by tensor hash, provenance, and the shipped models' package data."""

from __future__ import annotations

import fnmatch
import json
import shutil
import tomllib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import fashionlab
from fashionlab.config import resolve_config
from fashionlab.data.loader import FashionDataset
from fashionlab.engine.export import CONFIG_FILE, WEIGHTS_FILE, convert_export, export_tensor_hash, read_export
from fashionlab.engine.provenance import build_provenance, data_fingerprint
from fashionlab.engine.tensors import file_sha256, tensor_hash, to_storage
from fashionlab.engine.trainer import Trainer
from fashionlab.errors import InputError
from fashionlab.models import MODELS, build_task
from fashionlab.models.registry import ASSETS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_attrnet(tmp_path_factory):
    """A 3-step attribute network run on tiny SynthFashion data: {"run", "data"}."""
    base = tmp_path_factory.mktemp("tiny-attrnet")
    spec = MODELS.get("attrnet")
    over = [*spec.tiny_setup(base), f"train.out={base / 'runs'}", "train.steps=3", "train.ckpt_every=0"]
    cfg = resolve_config(spec.config, model="attrnet", preset="tiny", overrides=over)
    run = Trainer(build_task("attrnet", cfg), cfg, train=cfg.train, progress=False, argv=["fashionlab", "x"]).fit()
    return {"run": run, "data": cfg.data}


def test_tensor_hash_is_of_values_as_loaded():
    a = {"net.w": torch.randn(4, 3), "net.n": torch.tensor(7)}
    rounded = {"net.w": a["net.w"].half(), "net.n": a["net.n"]}
    upcast = {"net.w": rounded["net.w"].float(), "net.n": a["net.n"]}
    assert tensor_hash(rounded) == tensor_hash(upcast)  # fp16 and its fp32 upcast: equal values, one hash
    assert tensor_hash({"net": {"w": upcast["net.w"], "n": a["net.n"]}}) == tensor_hash(upcast)  # nested form
    changed = {k: v.clone() for k, v in upcast.items()}
    changed["net.w"][2, 1] += 1e-3
    assert tensor_hash(changed) != tensor_hash(upcast)
    assert tensor_hash({"net.v": upcast["net.w"], "net.n": a["net.n"]}) != tensor_hash(upcast)  # a name
    assert tensor_hash({"net.w": upcast["net.w"].reshape(3, 4), "net.n": a["net.n"]}) != tensor_hash(upcast)
    assert tensor_hash({"net.w": upcast["net.w"], "net.n": torch.tensor(8)}) != tensor_hash(upcast)


def test_fp16_storage_keeps_what_fp16_would_hurt():
    tensors = {
        "a.weight": torch.randn(64, 64) * 0.1,
        "a.huge": torch.tensor([1.0, 1e6]),  # overflows fp16
        "a.tiny": torch.full((8,), 1e-9),  # underflows to 0
        "a.bn.running_var": torch.rand(16) + 0.5,
        "a.bn.num_batches_tracked": torch.tensor(5000),
    }
    stored, report = to_storage(tensors, "fp16")
    assert stored["a.weight"].dtype == torch.float16 and stored["a.bn.running_var"].dtype == torch.float16
    assert stored["a.huge"].dtype == torch.float32 and "overflows" in report["kept_fp32"]["a.huge"]
    assert stored["a.tiny"].dtype == torch.float32 and "relative error" in report["kept_fp32"]["a.tiny"]
    assert torch.equal(stored["a.bn.num_batches_tracked"], tensors["a.bn.num_batches_tracked"])
    assert 0 < report["max_relative_error"] < 1e-3 and report["max_abs"] == 1e6
    same, nothing = to_storage(tensors, "fp32")
    assert nothing == {} and all(same[k].dtype == v.dtype for k, v in tensors.items())
    with pytest.raises(InputError, match="unknown storage dtype 'int8'"):
        to_storage(tensors, "int8")


def test_converted_export_predicts_as_the_fp32_one(tiny_attrnet, tmp_path):
    run = tiny_attrnet["run"]
    fp16 = tmp_path / "fp16"
    report = convert_export(run, "fp16", out_dir=fp16)
    assert (fp16 / WEIGHTS_FILE).stat().st_size < 0.55 * (run / "export" / WEIGHTS_FILE).stat().st_size
    assert {str(v.dtype) for v in load_file(str(fp16 / WEIGHTS_FILE)).values()} <= {"torch.float16", "torch.int64"}
    meta, states = read_export(fp16)
    assert all(v.dtype in (torch.float32, torch.int64) for s in states.values() for v in s.values())  # upcast
    assert meta["storage"]["converted_from"]["tensor_sha256"] == export_tensor_hash(run)
    assert report["tensor_sha256"] == export_tensor_hash(fp16) != export_tensor_hash(run)
    a, b = fashionlab.load(run), fashionlab.load(fp16)
    assert all(p.dtype == torch.float32 for p in b.parameters())
    ds = FashionDataset(tiny_attrnet["data"], split="train", size=a.preprocess.size)
    x = torch.stack([ds[i]["image"] for i in range(16)])
    with torch.no_grad():
        for pa, pb in zip(a.predict(x), b.predict(x), strict=True):
            assert (pa - pb).abs().max() < 5e-3
            assert (pa.argmax(1) == pb.argmax(1)).float().mean() >= 0.9
    again = convert_export(fp16, "fp16")  # converting twice changes nothing and remembers the original
    assert again["tensor_sha256"] == report["tensor_sha256"]
    again_meta = json.loads((fp16 / CONFIG_FILE).read_text())
    assert again_meta["storage"]["converted_from"] == meta["storage"]["converted_from"]


#: the seven models shipped when issue #14 set the 35 MB target (commit 6693d94: 33.0 MB in fp16)
ISSUE_14_SET = {
    *("amgan-synth64", "attrnet-synth128", "attrnet-synth64", "attrnet-synth64-eval", "attrnet-synthpose128-eval"),
    *("keypoints-synth128x64", "xinggan-synth128x64"),
}


def test_shipped_models_are_fp16_and_reference_each_other_by_tensor_hash():
    sizes = {}
    for folder in sorted(p for p in ASSETS.iterdir() if (p / WEIGHTS_FILE).is_file()):
        meta = json.loads((folder / CONFIG_FILE).read_text())
        assert meta["storage"]["dtype"] == "fp16" and meta["provenance"]["steps"] > 0, folder
        sizes[folder.name] = (folder / WEIGHTS_FILE).stat().st_size
    # the 35 MB target was set for the models of issue #14 and still holds for them; the scorers added since
    # for issues #15/#16 (evaluators trained on other people, e.g. keypoints-synth128x64-eval) and the default
    # re-poser of issue #16 (deform-synth128x64: 8.6M parameters, 17.2 MB) come on top, so all shipped models
    # together have their own, looser bound
    assert set(sizes) >= ISSUE_14_SET and sum(sizes[k] for k in ISSUE_14_SET) < 35e6
    assert sum(sizes.values()) < 55e6
    deform = json.loads((ASSETS / "deform-synth128x64" / CONFIG_FILE).read_text())
    assert deform["extra"]["keypoint_model_tensor_sha256"] == export_tensor_hash(ASSETS / "keypoints-synth128x64")
    amgan = json.loads((ASSETS / "amgan-synth64" / CONFIG_FILE).read_text())
    assert amgan["extra"]["classifier"]["source"]["tensor_sha256"] == export_tensor_hash(ASSETS / "attrnet-synth64")
    xing = json.loads((ASSETS / "xinggan-synth128x64" / CONFIG_FILE).read_text())
    assert xing["extra"]["keypoint_model_tensor_sha256"] == export_tensor_hash(ASSETS / "keypoints-synth128x64")


def _copy_asset(name: str, tmp_path: Path) -> Path:
    out = tmp_path / name
    shutil.copytree(ASSETS / name, out)
    return out


def test_load_refuses_a_referenced_network_with_another_tensor_hash(tmp_path):
    amgan = _copy_asset("amgan-synth64", tmp_path)
    meta = json.loads((amgan / CONFIG_FILE).read_text())
    source = meta["extra"]["classifier"]["source"]
    source["tensor_sha256"] = "f" * 64
    (amgan / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(InputError, match="another version of the shipped attribute network 'attrnet-synth64'"):
        fashionlab.load(amgan)
    # an export from before tensor hashes names the weights file: the fp32 original of the shipped fp16
    # network (storage.converted_from) is accepted, any other file refused
    shipped = json.loads((ASSETS / "attrnet-synth64" / CONFIG_FILE).read_text())
    del source["tensor_sha256"]
    source["sha256"] = shipped["storage"]["converted_from"]["file_sha256"]
    (amgan / CONFIG_FILE).write_text(json.dumps(meta))
    assert fashionlab.load(amgan).classifier is not None
    source["sha256"] = "0" * 64
    (amgan / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(InputError, match="weights file's sha256"):
        fashionlab.load(amgan)

    xing = _copy_asset("xinggan-synth128x64", tmp_path)
    meta = json.loads((xing / CONFIG_FILE).read_text())
    meta["extra"]["keypoint_model_tensor_sha256"] = "e" * 64
    (xing / CONFIG_FILE).write_text(json.dumps(meta))
    reposer = fashionlab.load(xing)  # the keypoint estimator is loaded (and checked) when first needed
    with pytest.raises(InputError, match="another version of the keypoint estimator asset:keypoints-synth128x64"):
        reposer.keypoint_net()


def test_training_writes_provenance(tiny_attrnet):
    meta = json.loads((tiny_attrnet["run"] / "export" / CONFIG_FILE).read_text())
    p = meta["provenance"]
    assert p["steps"] == 3 and p["seed"] == 0 and p["command"] == "fashionlab x"
    assert p["data"] == data_fingerprint(tiny_attrnet["data"]) and p["data"]["items"] == 48
    sessions = json.loads((tiny_attrnet["run"] / "run.json").read_text())["sessions"]
    commit = sessions[0]["git_commit"]
    assert p["git_commit"] == (commit.removesuffix("-dirty") if commit else None)
    assert p.get("dirty", False) == bool(commit and commit.endswith("-dirty"))


def test_provenance_block():
    sessions = [
        {"git_commit": "abc-dirty", "argv": ["/venv/bin/fashionlab", "train", "attrnet", "--data", "my data"]},
        {"git_commit": "def", "argv": ["/venv/bin/fashionlab", "train", "attrnet", "--resume", "latest"]},
    ]
    p = build_provenance(sessions, steps=10, seed=3, data=None)
    assert p["git_commit"] == "def" and p["git_commits"] == ["abc", "def"] and p["dirty"] is True
    assert p["command"] == "fashionlab train attrnet --data 'my data'"
    assert p["resumed_with"] == ["fashionlab train attrnet --resume latest"] and p["data"] is None
    clean = build_provenance(sessions[1:], steps=10, seed=3)
    assert "dirty" not in clean and "resumed_with" not in clean


def test_data_fingerprint_follows_the_items(tmp_path):
    from fashionlab.synth.generate import SynthConfig, generate_dataset

    data = generate_dataset(tmp_path / "d", SynthConfig(n=6, size=(32, 32), seed=4, workers=1), progress=False)
    before = data_fingerprint(data)
    items = data / "items.jsonl"
    items.write_text(items.read_text().replace('"seed"', '"seed" ', 1))
    assert data_fingerprint(data)["sha256"] != before["sha256"] and data_fingerprint(tmp_path) is None


def test_package_data_ships_every_asset_file():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["fashionlab"]
    package = ROOT / "src" / "fashionlab"
    files = [p.relative_to(package).as_posix() for p in (package / "assets").rglob("*") if p.is_file()]
    assert any(f.endswith("README.md") for f in files)
    missing = [f for f in files if "__pycache__" not in f and not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, f"files under assets/ the wheel would leave out: {missing}"


def test_file_sha256_is_of_the_bytes(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert file_sha256(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_training_table_reads_a_shipped_checkpoint_export():
    """`eval compare|pose` name shipped models as asset:NAME: their training row comes from the provenance of
    the export (the default re-poser is a checkpoint of a longer run: its step and training time)."""
    from fashionlab.cli.evaluate import training_table

    table = training_table([("deform", Path("asset:deform-synth128x64"))])
    checkpoint = json.loads((ASSETS / "deform-synth128x64" / CONFIG_FILE).read_text())["provenance"]["checkpoint"]
    assert f"| deform | {checkpoint['step']:,} |" in table
    assert f"| {checkpoint['training_seconds'] / 3600:.2f} |" in table
