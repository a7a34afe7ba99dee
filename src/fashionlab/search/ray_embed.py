"""Embedding a catalog on Ray Data: the attribute network in batches on a pool of Ray actors, the vectors
written to the catalog in batches by the driver, resumable.

One call (what ``fashionlab index build|add --engine ray`` runs)::

    from fashionlab.search.ray_embed import embed_with_ray
    stats = embed_with_ray("sf64/", "asset:attrnet-synth64", "catalog/", batch_size=64, actors=2)
    print(stats.summary())

- **Sources** (:mod:`.ray_sources`): a dataset folder, a folder of images, or a text file of paths/URLs.
- **Ray**: by default a local Ray started for the call (``actors * cpus_per_actor`` CPUs, no dashboard,
  quiet logging) and shut down after; ``address="auto"`` (a cluster started with ``ray start`` on this
  machine) or ``address="ray://HEAD:10001"`` (Ray Client, e.g. KubeRay) run the same pipeline on a cluster,
  nothing else changed; a Ray already initialised in the process is used as it is. ``gpus_per_actor`` puts
  each actor on a GPU (the model moves to ``cuda``).
- **Writing**: the driver adds every ``write_batch`` embedded images to the catalog with its public
  ``add`` (each add is atomic: a killed run leaves the catalog with the batches written so far).
- **Resuming**: ids are the dedup key; items whose id the catalog has are not embedded again, so running
  the same call after a kill embeds only the rest.
- **Bad input** (a missing source, an unreadable image, an unreachable address) is an
  :class:`~fashionlab.errors.InputError` that names it; unreadable images do not stop the others, which are
  written before the error lists them.

Embedding is :func:`.embed.embed_batch` (the function of the single-process path), over the same pixels
(:meth:`~fashionlab.data.imaging.Preprocess.load`), so a catalog embedded here equals one built by
:func:`.build.build_catalog` (up to float rounding between batch compositions).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FashionlabError, InputError, ProblemList
from ..models.attrnet import AttrNet
from .ray_sources import SourceItem, list_source, load_input
from .store import CatalogStore

#: seconds to wait for a TCP answer from a Ray address before calling it unreachable
CONNECT_TIMEOUT = 5.0


@dataclass
class EmbedStats:
    """What a run did: ``total`` items in the source, ``skipped`` (already in the catalog), ``embedded``
    and written, ``failed`` (unreadable); ``seconds`` of the pipeline (Ray start-up excluded,
    ``startup_seconds``) and ``images_per_s`` = embedded / seconds."""

    total: int = 0
    skipped: int = 0
    embedded: int = 0
    failed: int = 0
    writes: int = 0
    actors: int = 0
    batch_size: int = 0
    address: str = "local"
    startup_seconds: float = 0.0
    seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line for a CLI: counts, time and throughput."""
        return (
            f"{self.embedded} embedded, {self.skipped} already in the catalog, {self.failed} unreadable, "
            f"of {self.total}; {self.images_per_s:.1f} images/s on {self.actors} actor(s) at {self.address} "
            f"({self.seconds:.1f} s, Ray start {self.startup_seconds:.1f} s)"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "images_per_s": self.images_per_s}


class _Embedder:
    """A Ray actor: holds the model, turns a batch of ``{"id", "image"}`` rows into vectors. Images that
    cannot be read get zero vectors and their message in ``error`` (the driver reports them)."""

    def __init__(self, model: AttrNet, device: str, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.model = model.to(device).eval()
        self.device = device
        from .embed import embed_batch

        self.embed_batch = embed_batch
        size = model.preprocess.size
        blank = torch.zeros(1, 3, *size, device=device)
        self.shapes = {k: v.shape[1:] for k, v in embed_batch(self.model, blank).items()}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        inputs, good, errors = [], [], []
        for k, ref in enumerate(batch["image"]):
            try:
                inputs.append(load_input(str(ref), self.model.preprocess))
                good.append(k)
                errors.append("")
            except FashionlabError as e:
                errors.append(str(e))
        n = len(batch["id"])
        out = {k: np.zeros((n, *s), np.float32) for k, s in self.shapes.items()}
        if inputs:
            vec = self.embed_batch(self.model, torch.stack(inputs).to(self.device))
            for k, v in vec.items():
                out[k][good] = v
        return {"id": batch["id"], "error": np.asarray(errors, dtype=object), **out}


def _probe(address: str) -> None:
    """Fail fast, with a clear message, when ``HOST:PORT`` of a Ray address does not answer."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(
            f"expected a Ray address: auto, ray://HOST:PORT (Ray Client, port 10001) or HOST:PORT (the GCS, "
            f"port 6379), got {address!r}",
            field="address",
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise InputError(
            f"no Ray cluster answers at {address} ({e.strerror or e}); start one with `ray start --head` (its "
            "address: auto on that machine, ray://HEAD:10001 elsewhere), or omit the address for a local Ray",
            field="address",
        ) from None


def connect_ray(address: str | None, num_cpus: int) -> bool:
    """Make sure Ray is initialised: a local Ray with ``num_cpus`` CPUs (``address=None``) or the cluster
    at ``address`` (checked to answer first). A Ray this process already initialised is used as it is.
    Returns whether this call started it (then the caller shuts it down)."""
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # Ray's C++ warnings on the driver's stderr
    import ray

    if address is not None:
        _probe(address)
    if ray.is_initialized():
        return False
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False)
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)
        return True
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise InputError(f"cannot connect to the Ray cluster at {address}: {e}", field="address") from None
    return True


def _check_model(cat: CatalogStore, model: AttrNet) -> None:
    from .query import model_identity

    if [n for n, _ in cat.attributes] != model.attribute_names:
        raise InputError("the model's attributes differ from the catalog's", path=cat.location)
    built_with = cat.meta.get("model_id")
    if built_with and built_with != model_identity(model):
        raise InputError(
            f"this catalog was built with another attribute network ({cat.meta.get('model')}); expected that "
            "network (ids are only skipped, never re-embedded, so a catalog holds one model's vectors)",
            path=cat.location,
        )


def prepare_catalog(
    model_path: str | Path,
    out: str | Path,
    *,
    prototype_data: str | Path,
    prototype_split: str = "train",
    prototype_limit: int = 5000,
    index_kind: str = "auto",
    batch_size: int = 64,
    progress: bool = True,
) -> CatalogStore:
    """The catalog at ``out`` for :func:`embed_with_ray`: opened when one is there (a resumed build),
    otherwise created empty with the value prototypes of ``prototype_data`` (a labelled dataset), as
    :func:`.build.build_catalog` creates it (same prototypes, metadata and model identity)."""
    from .build import create_empty_catalog, load_model_for_search
    from .locations import open_catalog
    from .uri import is_milvus

    if not is_milvus(out) and (Path(out) / "catalog.json").is_file():
        return open_catalog(out)
    if is_milvus(out):
        try:
            return open_catalog(out)
        except InputError:  # none there yet
            pass
    return create_empty_catalog(
        load_model_for_search(model_path),
        model_path,
        out,
        prototype_data=prototype_data,
        prototype_split=prototype_split,
        prototype_limit=prototype_limit,
        index_kind=index_kind,
        batch_size=batch_size,
        progress=progress,
    )


def _on_cpu(net: AttrNet) -> AttrNet:
    """The network as actors receive it: on the CPU (a copy when the caller's is on a GPU)."""
    import copy

    return net if next(net.parameters()).device.type == "cpu" else copy.deepcopy(net).cpu()


def _blocks(todo: list[SourceItem], rows: int) -> list:
    """The rows to embed as Arrow tables of ``rows`` rows (Ray Data's blocks: one actor call each)."""
    import pyarrow as pa

    return [
        pa.table({"id": [it.id for it in todo[i : i + rows]], "image": [it.image for it in todo[i : i + rows]]})
        for i in range(0, len(todo), rows)
    ]


def embed_with_ray(
    source: str | Path,
    model: str | Path | AttrNet,
    catalog: str | Path | CatalogStore,
    *,
    batch_size: int = 64,
    actors: int = 2,
    address: str | None = None,
    progress: bool = True,
    splits: list[str] | None = None,
    write_batch: int = 1024,
    cpus_per_actor: int = 1,
    gpus_per_actor: float = 0,
) -> EmbedStats:
    """Embed the images of ``source`` that ``catalog`` lacks into it, on Ray actors; see the module's
    docstring for sources, Ray addresses, writing and resuming.

    ``model``: an attribute network (a run folder, an export, ``asset:NAME``, or a loaded one); it must be
    the catalog's (same identity). ``catalog``: an existing catalog (a location for
    :func:`.locations.open_catalog`, or an open one, left open). ``batch_size``: images per forward pass
    (per actor); ``actors``: the actor pool's size; ``write_batch``: images per catalog add (each add
    is one segment of a folder catalog, O(batch); larger batches mean fewer merges). Returns the run's
    :class:`EmbedStats`; raises :class:`~fashionlab.errors.ProblemList` after writing the rest when some
    images could not be read."""
    from .build import load_model_for_search
    from .locations import open_catalog

    for name, value in (("batch_size", batch_size), ("actors", actors), ("write_batch", write_batch)):
        if value < 1:
            raise InputError(f"must be at least 1, got {value}", field=name)
    net = model if isinstance(model, AttrNet) else load_model_for_search(model)
    cat = catalog if not isinstance(catalog, str | Path) else open_catalog(catalog)
    try:
        _check_model(cat, net)
        items = list_source(source, splits=splits, attribute_names=net.attribute_names)
        present = {it.id for it in cat.get([it.id for it in items])}
        todo = [it for it in items if it.id not in present]
        stats = EmbedStats(len(items), len(present), actors=actors, batch_size=batch_size, address=address or "local")
        if not todo:
            return stats
        t0 = time.perf_counter()
        started = connect_ray(address, num_cpus=actors * cpus_per_actor)
        stats.startup_seconds = time.perf_counter() - t0
        try:
            _run(stats, todo, net, cat, write_batch, cpus_per_actor, gpus_per_actor, progress)
        finally:
            if started:
                import ray

                ray.shutdown()
    finally:
        if cat is not catalog:
            cat.close()
    if stats.errors:
        raise ProblemList(
            [InputError(msg) for _, msg in stats.errors],
            f"the images ({stats.embedded} others were written; expected readable PNG/JPEG/... images)",
        )
    return stats


def _run(
    stats: EmbedStats,
    todo: list[SourceItem],
    net: AttrNet,
    cat: CatalogStore,
    write_batch: int,
    cpus_per_actor: int,
    gpus_per_actor: float,
    progress: bool,
) -> None:
    """The pipeline: blocks -> actor pool (embedding) -> driver (catalog adds of ``write_batch`` rows);
    counts into ``stats``."""
    import ray.data
    from tqdm import tqdm

    ctx = ray.data.DataContext.get_current()
    saved = (ctx.enable_progress_bars, ctx.execution_options.preserve_order)
    ctx.enable_progress_bars = False  # ours is the driver's tqdm (images written, images/s)
    ctx.execution_options.preserve_order = True  # written in source order, as the single-process path does
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    actors, batch_size = stats.actors, stats.batch_size
    by_id = {it.id: it for it in todo}
    rows = max(1, min(batch_size * 4, -(-len(todo) // (4 * actors))))
    device = "cuda" if gpus_per_actor > 0 else "cpu"
    t0 = time.perf_counter()
    try:
        ds = ray.data.from_arrow(_blocks(todo, rows)).map_batches(
            _Embedder,
            fn_constructor_args=(_on_cpu(net), device, cpus_per_actor),
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=cpus_per_actor,
            num_gpus=gpus_per_actor,
        )
        with tqdm(total=len(todo), desc="embedding (ray)", unit="img", disable=not progress) as bar:
            for b in ds.iter_batches(batch_size=write_batch, batch_format="numpy"):
                ids = [str(i) for i in b["id"]]
                ok = np.asarray([e == "" for e in b["error"]], bool)
                stats.errors += [(i, str(e)) for i, e, g in zip(ids, b["error"], ok, strict=True) if not g]
                keep = [by_id[i] for i, g in zip(ids, ok, strict=True) if g]
                if keep:
                    vectors = {k: np.asarray(v[ok], np.float32) for k, v in b.items() if k not in ("id", "error")}
                    cat.add(
                        [it.id for it in keep],
                        [it.image for it in keep],
                        [it.attributes for it in keep],
                        [it.region_attributes for it in keep],
                        vectors,
                    )
                    stats.writes += 1
                stats.embedded += len(keep)
                stats.failed = len(stats.errors)
                bar.update(len(ids))
    finally:
        ctx.enable_progress_bars, ctx.execution_options.preserve_order = saved
    stats.seconds = time.perf_counter() - t0
