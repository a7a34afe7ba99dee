"""What the service holds for its lifetime: the models (loaded once at start-up), the catalog with its
lock, the sample gallery and the pose gallery."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.export import CONFIG_FILE, export_dir
from ..errors import InputError
from ..models.registry import load, model_path
from ..search.catalog import Catalog
from ..search.locations import is_milvus, open_catalog, parse_milvus
from ..search.query import Searcher, model_identity
from ..search.store import CatalogStore
from ..usecases.edit import check_editor
from ..usecases.pose import check_reposer
from ..usecases.predict import check_attrnet
from .config import ServeConfig

log = logging.getLogger("fashionlab.serve")

#: SynthFashion seeds of the studio's samples and of the demo catalog (never those of the shipped models' data)
SAMPLE_SEED = 7_700_000
CATALOG_SEED = 77


@dataclass
class Sample:
    """A SynthFashion picture the studio offers: ``kind`` ``garment`` (128 px, head to mid-thigh: for
    attributes, search, edits) or ``person`` (256x128, head to feet: for re-posing)."""

    id: str
    kind: str
    seed: int
    attributes: dict[str, str]
    size: tuple[int, int]


@dataclass
class ServiceState:
    config: ServeConfig
    models: dict[str, Any] = field(default_factory=dict)  # role -> loaded model
    sources: dict[str, str] = field(default_factory=dict)  # role -> what it was loaded from
    catalog: CatalogStore | None = None
    searcher: Searcher | None = None
    catalog_lock: threading.Lock = field(default_factory=threading.Lock)
    work_dir: Path | None = None
    samples: list[Sample] = field(default_factory=list)

    def model(self, role: str, what: str) -> Any:
        """The loaded model of ``role``, or an InputError saying this service runs without it."""
        if role not in self.models:
            raise InputError(f"this service runs without {what} (start it with --{role} MODEL)", field=role)
        return self.models[role]

    def require_catalog(self) -> tuple[CatalogStore, Searcher]:
        if self.catalog is None or self.searcher is None:
            raise InputError("this service runs without a catalog (start it with --catalog DIR)", field="catalog")
        return self.catalog, self.searcher

    def uploads_dir(self) -> Path:
        """Where uploaded catalog images are kept: in a folder catalog, beside a Milvus Lite file
        (``NAME.db.uploads``), or in the work folder for a Milvus server."""
        if isinstance(self.catalog, Catalog):
            return self.catalog.root / "uploads"
        if self.catalog is not None and is_milvus(self.catalog.location):
            loc = parse_milvus(self.catalog.location)
            if loc.lite:
                return Path(f"{loc.uri}.uploads") / loc.collection
        return (self.work_dir or Path(tempfile.gettempdir())) / "uploads"


def _load_models(cfg: ServeConfig, state: ServiceState) -> None:
    checks = {"attrnet": check_attrnet, "editor": check_editor, "reposer": check_reposer}
    for role, check in checks.items():
        source = getattr(cfg, role)
        if source:
            state.models[role] = check(load(source), source)
            state.sources[role] = source
    if "reposer" in state.models:
        state.models["reposer"].keypoint_net()  # load the keypoint estimator now, not on the first request


def build_demo_catalog(attrnet_source: str, root: Path, items: int) -> Path:
    """A catalog of ``items`` SynthFashion renders (128 px, seed :data:`CATALOG_SEED`) embedded with the
    attribute network, its prototypes from the same renders' train split. Made once per ``root``."""
    from ..search.build import build_catalog
    from ..synth.generate import SynthConfig, generate_dataset

    data, catalog = root / f"demo-data-{items}", root / f"demo-catalog-{items}"
    if (catalog / "catalog.json").is_file():
        return catalog
    if not (data / "dataset.json").is_file():
        generate_dataset(data, SynthConfig(n=items, size=(128, 128), seed=CATALOG_SEED, workers=1), progress=False)
    build_catalog(model_path(attrnet_source), data, catalog, splits=None, progress=False)
    return catalog


def _samples() -> list[Sample]:
    from ..synth.attributes import sample_attributes

    out = []
    for i in range(12):
        seed = SAMPLE_SEED + i
        attrs = sample_attributes(np.random.default_rng(seed))
        out.append(Sample(f"garment-{i}", "garment", seed, attrs, (128, 128)))
    for i in range(6):
        seed = SAMPLE_SEED + 100 + i
        attrs = sample_attributes(np.random.default_rng(seed))
        out.append(Sample(f"person-{i}", "person", seed, attrs, (256, 128)))
    return out


@lru_cache(maxsize=64)
def sample_image(seed: int, attributes_json: str, size: tuple[int, int]) -> np.ndarray:
    """The (H, W, 3) uint8 render of a sample (cached)."""
    from ..synth.figure import Pose
    from ..synth.render import render

    framing = "full" if size[0] > size[1] else "upper"
    pose = Pose.sample(seed, framing)
    return render(seed, json.loads(attributes_json), pose, size=size, framing=framing).image


def render_sample(sample: Sample) -> np.ndarray:
    return sample_image(sample.seed, json.dumps(sample.attributes, sort_keys=True), sample.size)


#: the pose gallery: wide-range poses of full-body renders, in a 256x128 frame
POSE_SEED = 7_800_000
POSE_FRAME = (256, 128)


@lru_cache(maxsize=1)
def pose_gallery() -> list[np.ndarray]:
    """Eight target poses ((18, 2) keypoints in a :data:`POSE_FRAME` picture, -1 where missing)."""
    from ..synth.attributes import sample_attributes
    from ..synth.figure import Pose
    from ..synth.render import render

    poses = []
    for i in range(8):
        seed = POSE_SEED + i
        pose = Pose.sample(seed, "full", variant=1, pose_range="wide")
        r = render(seed, sample_attributes(np.random.default_rng(seed)), pose, size=POSE_FRAME, framing="full")
        poses.append(np.asarray(r.keypoints, np.float32))
    return poses


def model_card(source: str) -> dict[str, Any]:
    """Kind, input, provenance and the card (README.md) of a model export, for ``GET /v1/models``."""
    path = export_dir(model_path(source))
    meta = json.loads((path / CONFIG_FILE).read_text())
    card = path / "README.md"
    if not card.is_file():
        card = path.parent / "README.md"
    return {
        "kind": meta.get("kind"),
        "input": meta.get("preprocess"),
        "provenance": meta.get("provenance"),
        "card": card.read_text() if card.is_file() else None,
    }


def start(cfg: ServeConfig) -> ServiceState:
    """Load everything the service needs once (models, catalog, galleries), or raise an InputError."""
    import torch

    cfg.check()
    torch.set_num_threads(cfg.torch_threads)
    state = ServiceState(cfg)
    _load_models(cfg, state)
    state.work_dir = cfg.work_dir or Path(tempfile.mkdtemp(prefix="fashionlab-serve-"))
    state.work_dir.mkdir(parents=True, exist_ok=True)
    catalog_dir = cfg.catalog
    if catalog_dir is None and cfg.demo_catalog_items > 0 and "attrnet" in state.models:
        log.info("building a demo catalog of %d SynthFashion items in %s", cfg.demo_catalog_items, state.work_dir)
        catalog_dir = build_demo_catalog(state.sources["attrnet"], state.work_dir, cfg.demo_catalog_items)
    if catalog_dir is not None:
        from ..search.build import load_model_for_search

        state.catalog = open_catalog(catalog_dir)
        net = state.models.get("attrnet")
        built_with = state.catalog.meta.get("model_id")
        if built_with:
            other = net is None or model_identity(net) != built_with
        else:  # a catalog from before model identities: compare paths
            shipped = export_dir(model_path(state.sources["attrnet"])) if net is not None else None
            other = shipped is None or Path(state.catalog.meta["model"]).resolve() != shipped.resolve()
        if other:
            net = load_model_for_search(state.catalog.meta["model"])
        state.searcher = Searcher(state.catalog, net)
    state.samples = _samples()
    return state
