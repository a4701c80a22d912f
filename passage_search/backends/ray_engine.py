"""Builds on Ray: the same build, with the texts the embedding cache lacks embedded by a Ray Data actor pool.

``build.build_index`` does all the rest (read, split, cache, headings, BM25, manifest, ``write_index``);
``RayEngine`` only replaces how the missing texts get embedded (``cache.EmbedEngine``):

    (row, key, text) rows -> ray.data.from_items -> map_batches(EmbedActor, a fixed actor pool)
    -> write_parquet(shards of row, key, vector) -> read back here with pyarrow, placed by row

Which Ray it runs on, and how that Ray is started: ``ray_cluster``.
"""

from __future__ import annotations

import math
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from passage_search.backends.ray_cluster import RaySession, data_settings, require_ray
from passage_search.embed.base import DEFAULT_MODEL, Embedder
from passage_search.embed.factory import make_embedder
from passage_search.embed.model_folder import default_model_path
from passage_search.errors import DistributedError, ModelError, PassageSearchError, first_line
from passage_search.index.build import BuildResult, build_index
from passage_search.passage import text_hash

if TYPE_CHECKING:
    import pyarrow as pa

# Rows one actor call embeds at most: big enough to keep the model busy, small enough that a shard of
# 384-d vectors stays a few MB and the pool can balance the work across workers.
MAX_BATCH_ROWS = 2048
# Batches a worker should get at least, so a slow worker does not hold up the end of the build.
BATCHES_PER_WORKER = 4
SHARDS = ".ray-shards"  # inside the index folder: the build lock covers it, and it is removed afterwards

EmbedderFactory = Callable[[], Embedder]


@dataclass(frozen=True)
class ModelSpec:
    """How a worker makes the driver's embedder: a picklable name for a model that is not picklable itself."""

    model: str | None  # an absolute model folder, or None: the packaged default as installed on the worker
    backend: str
    threads: int = 1

    def __call__(self) -> Embedder:
        return make_embedder(self.model, backend=self.backend, threads=self.threads)


def model_spec(emb: Embedder, *, threads: int = 1) -> ModelSpec:
    """The ``ModelSpec`` of an embedder made by ``make_embedder`` (a test double needs a factory instead)."""
    path, backend = getattr(emb, "path", None), getattr(emb, "backend", None)
    if not path or not backend:
        raise DistributedError(
            f"The embedder {emb.name!r} names no model folder for Ray workers to load; pass a factory that makes it."
        )
    # Workers may install the packaged model elsewhere; its fingerprint, checked by each worker, is what must match.
    packaged = emb.name == DEFAULT_MODEL and Path(path).resolve() == default_model_path().resolve()
    return ModelSpec(None if packaged else str(Path(path).resolve()), str(backend), max(1, threads))


class EmbedActor:
    """One Ray Data actor: makes the embedder once, then embeds every batch it is given."""

    def __init__(self, factory: EmbedderFactory, fingerprint: str, batch_size: int) -> None:
        self.embedder = factory()
        self.fingerprint = fingerprint
        self.batch_size = batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        if self.embedder.fingerprint != self.fingerprint:
            # A worker with another model (or another version of the model package) would mix vectors of two
            # models in one index, which no check at query time could notice. Raised here, not in __init__:
            # Ray keeps a batch's exception for the driver, but only the text of a constructor's.
            raise ModelError(
                f"A Ray worker loaded model {self.embedder.fingerprint}, not the {self.fingerprint} the build "
                "started with; install the same model on every node."
            )
        vectors = self.embedder.embed(batch.column("text").to_pylist(), batch_size=self.batch_size)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        # A fixed-size list column: plain parquet that any reader maps back to a (rows, dimension) array.
        column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
        return pa.table({"row": batch.column("row"), "key": batch.column("key"), "vector": column})


class RayEngine:
    """A ``cache.EmbedEngine`` that embeds on Ray; use it as a context manager around ``build_index``.

    It joins Ray (``ray_cluster.RaySession``: this process's Ray, ``address``, or a local one) on its first
    call, so a build that embeds nothing (an unchanged corpus) never starts it; ``close`` shuts down only
    a Ray it started.

    Args:
        shard_dir: where the workers write their parquet shards; on a cluster every node must see it at
            this absolute path (a shared filesystem).
        factory: makes the embedder on a worker (default: ``model_spec`` of the build's embedder).
        workers: actors in the pool (default: one per ``cpus_per_worker`` CPUs of the cluster).
        temp_dir: the session folder of a local Ray started here (default: a temporary folder).
    """

    def __init__(
        self,
        shard_dir: Path,
        *,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_worker: int = 1,
        temp_dir: Path | None = None,
        factory: EmbedderFactory | None = None,
    ) -> None:
        # Absolute: Ray workers do not share the driver's working directory.
        self.shard_dir = Path(shard_dir).resolve()
        self.session = RaySession(address=address, temp_dir=temp_dir)
        self.workers = workers
        self.cpus_per_worker = max(1, cpus_per_worker)
        self.factory = factory
        # What it did, for tests and the benchmark: texts embedded, pipeline runs, actors in the last pool.
        self.rows_embedded = self.runs = self.workers_used = 0

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __call__(self, emb: Embedder, texts: list[str], *, batch_size: int, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, emb.dimension), dtype=np.float32)
        ray = self.session.open()
        factory = self.factory or model_spec(emb, threads=self.cpus_per_worker)
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_worker))
        rows = _batch_rows(len(texts), workers, batch_size)
        self.workers_used = min(workers, math.ceil(len(texts) / rows))
        # Longest first, as the local embedder orders its batches: texts of similar length share a batch
        # and are padded less. Every row carries its place, so the order comes back from the shards.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        items = [{"row": i, "key": text_hash(texts[i]), "text": texts[i]} for i in order]
        shards = self.shard_dir / uuid.uuid4().hex
        try:
            with data_settings(ray, progress=progress):
                # From the driver's memory: no read task, so none to starve of CPUs (see the write below).
                dataset = ray.data.from_items(items, override_num_blocks=math.ceil(len(items) / rows))
                made_once = {"factory": factory, "fingerprint": emb.fingerprint, "batch_size": batch_size}
                dataset = dataset.map_batches(
                    EmbedActor,
                    fn_constructor_kwargs=made_once,
                    batch_size=rows,
                    batch_format="pyarrow",
                    # One batch at a time: the longest texts come first, and an actor that started early
                    # would otherwise queue several of them while the others wait for work.
                    compute=ray.data.ActorPoolStrategy(size=self.workers_used, max_tasks_in_flight_per_actor=1),
                    num_cpus=self.cpus_per_worker,
                )
                # num_cpus=0: the actors may hold every CPU, and a write task waiting for one would hang the
                # pipeline for good (ray-project/ray#44687). Writing a block costs next to nothing.
                dataset.write_parquet(str(shards), ray_remote_args={"num_cpus": 0})
            vectors = read_shards(shards, texts)
        except Exception as exc:
            raise _one_sentence(exc) from exc
        finally:
            shutil.rmtree(shards, ignore_errors=True)
        self.rows_embedded += len(texts)
        self.runs += 1
        return vectors

    def close(self) -> None:
        """Let go of Ray (see ``RaySession.close``) and remove the emptied shard folder."""
        self.session.close()
        if self.shard_dir.is_dir() and not any(self.shard_dir.iterdir()):
            self.shard_dir.rmdir()


def read_shards(folder: Path, texts: list[str]) -> np.ndarray:
    """The vectors of ``texts`` from the parquet shards in ``folder``, each row checked against its text."""
    import pyarrow.parquet as pq

    out: np.ndarray | None = None
    seen = np.zeros(len(texts), dtype=bool)
    for path in sorted(folder.glob("*.parquet")):
        table = pq.read_table(path)
        if not table.num_rows:
            continue
        rows = table.column("row").to_numpy()
        column = table.column("vector").combine_chunks()
        vectors = column.flatten().to_numpy().reshape(len(rows), column.type.list_size)
        if any(key != text_hash(texts[row]) for row, key in zip(rows, table.column("key").to_pylist(), strict=True)):
            raise DistributedError(f"The Ray shard {path} holds vectors of other texts; build again.")
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[rows] = vectors
        seen[rows] = True
    if out is None or not seen.all():
        raise DistributedError(f"The Ray workers returned {int(seen.sum())} of {len(texts)} vectors; build again.")
    return out


def _batch_rows(n: int, workers: int, batch_size: int) -> int:
    """Rows a Ray batch: a whole number of model batches, about BATCHES_PER_WORKER batches a worker."""
    model_batches = math.ceil(n / (max(1, workers) * BATCHES_PER_WORKER * max(1, batch_size)))
    return max(1, min(MAX_BATCH_ROWS, model_batches * max(1, batch_size)))


def _one_sentence(exc: BaseException) -> PassageSearchError:
    """Our own error from inside a worker as it was raised, anything else as one DistributedError."""
    current: BaseException | None = exc
    for _ in range(10):  # Ray wraps a worker's error in a few layers; the chain is short
        if current is None:
            break
        cause = getattr(current, "cause", None)  # a RayTaskError keeps the worker's exception here
        for candidate in (cause, current):
            if isinstance(candidate, PassageSearchError) and type(candidate).__module__.startswith("passage_search"):
                return candidate
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return DistributedError(f"The Ray build failed ({first_line(exc)}); see the Ray logs, then build again.")


def build_with_ray(
    corpus: Path,
    out: Path,
    *,
    embedder: Embedder | None = None,
    model: str | None = None,
    backend: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    temp_dir: Path | None = None,
    factory: EmbedderFactory | None = None,
    **options: Any,
) -> BuildResult:
    """``build.build_index`` with the embedding on Ray (see ``RayEngine``); ``options`` are build_index's.

    Same corpus and settings, same index: passages, ids, manifest (but its time stamp) and vectors.
    """
    require_ray()  # before reading a corpus or loading a model
    emb = embedder or make_embedder(model, backend=backend)
    # corpus and out as given: the manifest records the corpus path, and only this process reads it.
    engine = RayEngine(Path(out) / SHARDS, address=address, workers=workers, temp_dir=temp_dir, factory=factory)
    with engine:
        return build_index(corpus, out, embedder=emb, engine=engine, **options)
