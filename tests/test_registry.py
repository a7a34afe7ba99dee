"""Every registered model, end to end on tiny data: build, train a few steps, export, load, infer.

A model joins these tests by registering itself (``register_model``); nothing here names a model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fashionlab
from fashionlab.config import resolve_config
from fashionlab.data.loader import make_loader
from fashionlab.engine.export import read_export
from fashionlab.engine.trainer import Trainer
from fashionlab.errors import FashionlabError, InputError
from fashionlab.models import MODELS, build_task

PRESETS = Path(fashionlab.__file__).parent / "presets"


def _leaves(tree: dict, prefix: str = ""):
    """(dotted key, value) of every non-dict value of a nested dict."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _plain(value):
    """Tuples as lists, the way YAML writes them."""
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t.float()).all())


@pytest.mark.parametrize("name", MODELS.names())
def test_model_trains_exports_loads_and_infers(name, tmp_path):
    spec = MODELS.get(name)
    overrides = [*spec.tiny_setup(tmp_path), f"train.out={tmp_path / 'runs'}", "train.steps=3", "train.ckpt_every=0"]
    cfg = resolve_config(spec.config, model=name, preset="tiny", overrides=overrides)
    trainer = Trainer(build_task(name, cfg), cfg, train=cfg.train, progress=False)
    run = trainer.fit()

    model = fashionlab.load(run)
    assert not model.training and model.preprocess is not None
    meta, states = read_export(run)
    assert meta["kind"] == name
    for net, module in trainer.inference_nets().items():  # the export holds the inference networks
        if net in states:
            for k, v in module.state_dict().items():
                assert torch.equal(states[net][k], v.cpu()), (net, k)
    batch = next(iter(make_loader(trainer.task.train_dataset(), 2, seed=1)))
    out = spec.infer(model, batch)
    assert out and all(_finite(v) and v.shape[0] == 2 for v in out.values())
    again = spec.infer(fashionlab.load(run / "export"), batch)
    for k, v in out.items():
        assert torch.allclose(v, again[k]), k


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_has_presets(name):
    import yaml

    spec = MODELS.get(name)
    for preset in ("cpu", "paper", "tiny"):
        cfg = resolve_config(spec.config, model=name, preset=preset)
        written = yaml.safe_load((PRESETS / name / f"{preset}.yaml").read_text())
        assert cfg.train.steps == written["train"]["steps"]
        for key, value in _leaves(written):  # every value the preset file sets is the config's
            got = cfg
            for part in key.split("."):
                got = getattr(got, part)
            assert _plain(got) == value or _plain(got) == [value, value], (name, preset, key, got, value)
    with pytest.raises(InputError, match="unknown key"):
        resolve_config(spec.config, model=name, overrides=["train.stepz=3"])
    with pytest.raises(InputError, match="integer"):
        resolve_config(spec.config, model=name, overrides=["train.steps=many"])


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(FashionlabError, match="valid: .*attrnet"):
        MODELS.get("stargn")


def test_models_register_themselves_on_import():
    """`import fashionlab.models` alone fills the registry (no registration list elsewhere)."""
    code = "from fashionlab.models import MODELS; print(','.join(MODELS.names()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ",".join(MODELS.names()) and "attrnet" in out.stdout


def test_shipped_models_load_by_asset_name():
    model = fashionlab.load("asset:attrnet-synth128")
    assert model.preprocess.size == (128, 128) and not model.training
    with pytest.raises(InputError, match="no shipped model 'nope'; shipped: .*attrnet-synth128"):
        fashionlab.load("asset:nope")
