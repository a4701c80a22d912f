"""``passage-search milvus push``: copy an index folder's passage vectors into a Milvus collection.

The collection is written under a new name and the alias searches use moves to it only once it is whole
(milvus_store.py says what is stored and how searches check it).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from passage_search import __version__
from passage_search.backends.milvus_store import (
    CONSISTENCY,
    IDENTITY,
    LAYOUT,
    StoreIdentity,
    alias_target,
    calls,
    check_name,
    connect,
    default_collection,
    row_count,
)
from passage_search.errors import VectorStoreError
from passage_search.index import ann
from passage_search.index.store import load_index

INDEX_TYPES = ("FLAT", "HNSW", "IVF_FLAT")
PUSH_TIMEOUT = 600.0  # flush, index build and load of a large collection take minutes on a cluster
BATCH = 1000  # rows per insert: 1.5 MB at 384-d, far below gRPC's message limit
# The FAISS index's parameters, so an index pushed to Milvus is searched as the index folder's is.
HNSW_PARAMS = {"M": ann.HNSW_M, "efConstruction": ann.HNSW_EF_CONSTRUCTION}
PASSAGE_ID_MAX = 1024


@dataclass(frozen=True)
class PushSummary:
    uri: str
    collection: str  # the alias searches name
    target: str  # the collection it points at
    rows: int
    index_type: str
    seconds: float
    up_to_date: bool = False  # the alias already pointed at these vectors: nothing was written

    @property
    def vectors_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def push(
    index_dir: Path | str, uri: str, collection: str | None = None, *, index_type: str = "FLAT"
) -> PushSummary:
    """Copy an index folder's passage vectors and ids into the Milvus collection ``collection``.

    Args:
        collection: the name searches use (an alias); default ``passages_<corpus fingerprint>``.
        index_type: FLAT (exact, the default), HNSW or IVF_FLAT (approximate, for large collections).
    Raises:
        VectorStoreError: Milvus cannot be reached, or ``collection`` names a collection not made by a push.
    """
    index = load_index(Path(index_dir))
    return push_vectors(
        uri, collection or default_collection(index), index.vector_array, [p.id for p in index.passages],
        StoreIdentity.of(index), index_type=index_type,
    )


def push_vectors(
    uri: str,
    collection: str,
    vectors: np.ndarray,
    passage_ids: Sequence[str],
    identity: StoreIdentity,
    *,
    index_type: str = "FLAT",
    batch_size: int = BATCH,
    timeout: float = PUSH_TIMEOUT,
) -> PushSummary:
    """``push`` for vectors not read from an index folder (benchmarks and tests use synthetic ones)."""
    started = time.perf_counter()
    check_name(collection)
    if index_type not in INDEX_TYPES:
        raise VectorStoreError(f"Unknown Milvus index type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}.")
    n, d = identity.passage_count, identity.dimension
    if np.shape(vectors) != (n, d) or len(passage_ids) != n:
        raise ValueError(f"{np.shape(vectors)} vectors and {len(passage_ids)} ids for {n} passages of {d} dimensions")
    if any(len(pid) > PASSAGE_ID_MAX for pid in passage_ids):
        raise VectorStoreError(f"A passage id is longer than the {PASSAGE_ID_MAX} characters a collection holds.")
    client = connect(uri)
    with calls(uri, "push to"):
        current = alias_target(client, collection, timeout)
        if current is None and client.has_collection(collection, timeout=timeout):
            raise VectorStoreError(
                f"There is already a Milvus collection named {collection} at {uri} that a push did not make; "
                "choose another --collection, or drop that collection."
            )
        if current is not None and _identity(client, current, timeout) is None:
            raise VectorStoreError(
                f"The Milvus alias {collection} at {uri} points at {current}, which a push did not make; "
                "choose another --collection."
            )
        key = hashlib.sha256(f"{identity.to_json()} {index_type}".encode()).hexdigest()[:12]
        target = f"{collection}__{key}"
        if current == target and row_count(client, target, timeout) == n:
            return PushSummary(uri, collection, target, n, index_type, time.perf_counter() - started, True)
        if client.has_collection(target, timeout=timeout):  # left by a push that died before its alias moved
            client.drop_collection(target, timeout=timeout)
        _create(client, target, identity, index_type, timeout)
        array = np.ascontiguousarray(vectors, dtype=np.float32)
        for lo in range(0, n, batch_size):
            rows = [
                {"row": row, "passage_id": passage_ids[row], "vector": array[row]}
                for row in range(lo, min(lo + batch_size, n))
            ]
            client.insert(target, rows, timeout=timeout)
        client.flush(target, timeout=timeout)
        # The index after the data, as Milvus's bulk-load guide does: built once over sealed segments.
        params = client.prepare_index_params()
        params.add_index("vector", index_type=index_type, metric_type="IP", params=_build_params(index_type, n))
        client.create_index(target, params, timeout=timeout)
        client.load_collection(target, timeout=timeout)
        if (count := row_count(client, target, timeout)) != n:
            raise VectorStoreError(f"Milvus at {uri} holds {count} of the {n} rows pushed to {target}; push again.")
        if current is None:
            client.create_alias(target, collection, timeout=timeout)
        else:
            client.alter_alias(target, collection, timeout=timeout)
            if current != target:
                client.drop_collection(current, timeout=timeout)
    return PushSummary(uri, collection, target, n, index_type, time.perf_counter() - started)


def _identity(client: Any, name: str, timeout: float) -> StoreIdentity | None:
    properties = client.describe_collection(name, timeout=timeout).get("properties", {})
    return StoreIdentity.from_json(properties.get(IDENTITY))


def _build_params(index_type: str, n: int) -> dict[str, int]:
    if index_type == "HNSW":
        return dict(HNSW_PARAMS)
    if index_type == "IVF_FLAT":
        return {"nlist": min(65536, ann.ivf_lists(n))}
    return {}


def _create(client: Any, name: str, identity: StoreIdentity, index_type: str, timeout: float) -> None:
    from pymilvus import DataType

    schema = client.create_schema(
        auto_id=False, enable_dynamic_field=False,
        description=f"passage-search vectors: {identity.model}, corpus {identity.corpus_fingerprint}",
    )
    schema.add_field("row", DataType.INT64, is_primary=True)  # the passage's row in passages.jsonl
    schema.add_field("passage_id", DataType.VARCHAR, max_length=PASSAGE_ID_MAX)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=identity.dimension)  # L2-normalised: IP = cosine
    layout = {
        "index_type": index_type, "params": _build_params(index_type, identity.passage_count),
        "pushed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "package_version": __version__,
    }
    properties = {IDENTITY: identity.to_json(), LAYOUT: json.dumps(layout, sort_keys=True)}
    client.create_collection(
        name, schema=schema, properties=properties, consistency_level=CONSISTENCY, timeout=timeout
    )
