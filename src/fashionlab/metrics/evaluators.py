"""Which attribute networks may score an editor, and what each one is.

An editor trained against a frozen classifier (AMGAN's CAMs and perceptual features, ``loss.frozen_cls``)
can learn to put into its outputs what that very network reads rather than the garment a person sees, so:

- :func:`check_independent` refuses an evaluator whose weights *are* the classifier an editor was trained
  with, compared by tensor hash (:func:`fashionlab.engine.tensors.tensor_hash`: the values as loaded, so an
  fp16 copy of the same network is recognised through the hash it was converted from);
- :func:`architecture_family` names each evaluator's family in every table, so a reader sees whether a
  figure comes from a network built like the editor's classifier (``alexnet-cam``: FashionSearchNet's
  attribute network) or from another kind (``resnet``: the plain residual classifier ``attrclf``);
- :func:`default_evaluators` picks the shipped evaluators (``*-eval`` assets, trained on renders disjoint
  from every editor's data) that fit an editor's input size and attributes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..engine.export import converted_from, export_meta
from ..engine.tensors import tensor_hash
from ..errors import InputError
from ..models.registry import ASSETS, model_path


def network_hashes(model: nn.Module | None, path: str | Path | None = None) -> set[str]:
    """Every tensor hash that identifies an attribute network: of its values as loaded (named as an attrnet
    export names them, ``model.*``) and, for an export at ``path``, of the version it was converted from."""
    out: set[str] = set()
    if model is not None:
        out.add(tensor_hash({"model": model.state_dict()}))
    if path is not None:
        before = converted_from(model_path(path)).get("tensor_sha256")
        if before:
            out.add(before)
    return out


def trained_with(editor: Any, editor_path: str | Path) -> set[str]:
    """The tensor hashes of the classifier ``editor`` (loaded from ``editor_path``) was trained with: the one
    its export records, the one of the network it carries, and, for a shipped network, its pre-conversion
    version's. Empty for an editor trained without a classifier."""
    hashes: set[str] = set()
    recorded = (export_meta(model_path(editor_path)).get("extra") or {}).get("classifier") or {}
    source = recorded.get("source") or {}
    if source.get("tensor_sha256"):
        hashes.add(source["tensor_sha256"])
    if recorded.get("asset"):
        hashes |= network_hashes(None, f"asset:{recorded['asset']}")
    classifier = getattr(editor, "classifier", None)
    if classifier is not None:
        hashes |= network_hashes(classifier)
    return hashes


def check_independent(editors: list[tuple[str, Any, str | Path]], evaluator: nn.Module, evaluator_path: str | Path):
    """Raise an InputError (field ``evaluator``) when ``evaluator`` is the classifier one of ``editors``
    (``(name, editor, path)``) was trained with."""
    mine = network_hashes(evaluator, evaluator_path)
    for name, editor, path in editors:
        shared = mine & trained_with(editor, path)
        if shared:
            raise InputError(
                f"the evaluator {evaluator_path} is the attribute network the editor {name} was trained with "
                f"(tensor hash {sorted(shared)[0][:12]}...): an editor trained against a classifier can learn to "
                "fool it, so it cannot score that editor. Use an evaluator trained on other data with another "
                "seed, e.g. asset:attrnet-synth64-eval or asset:attrclf-synth64-eval",
                field="evaluator",
            )


def architecture_family(model: nn.Module) -> str:
    """``alexnet-cam`` (FashionSearchNet's attribute network: CAM heads over an AlexNet-style backbone),
    ``resnet-cam`` (the same heads over a residual backbone), ``resnet`` (a plain residual classifier), or
    the class name for anything else."""
    family = getattr(model, "architecture_family", None)
    if isinstance(family, str):
        return family
    cfg = getattr(model, "cfg", None)
    backbone = getattr(cfg, "backbone", None)
    if type(model).__name__ == "AttrNet" and backbone:
        return "alexnet-cam" if backbone == "alexnet" else f"{backbone.rstrip('0123456789')}-cam"
    return type(model).__name__


def default_evaluators(size: tuple[int, int], attribute_names: list[str]) -> list[str]:
    """``asset:NAME`` of every shipped evaluator (an ``*-eval`` asset) whose input size and attributes fit:
    the attribute networks (``attrnet-*``, whose embedding is trained for retrieval: the first evaluator
    gives retrieval and FID-like) first, then the others, each group in name order."""
    found = []
    for folder in sorted(ASSETS.glob("*-eval"), key=lambda p: (not p.name.startswith("attrnet-"), p.name)):
        meta = export_meta(folder)
        pre = meta.get("preprocess") or {}
        names = [a[0] for a in (meta.get("extra") or {}).get("attributes", [])]
        if tuple(pre.get("size", ())) == tuple(size) and names == list(attribute_names):
            found.append(f"asset:{folder.name}")
    return found
