"""Passage vectors served from Milvus: push an index's vectors to a collection, search them there.

Only the dense passage search moves. Passages, heading vectors, BM25, filtered searches and fusion stay in
the local index folder, so row i of the collection (its primary key) must be passage i of passages.jsonl,
as in vectors.faiss; the collection carries the local index's identity as a property and is refused when
it does not match. ``milvus_push.push`` writes a new collection ``<name>__<content key>`` and only then points the
alias ``<name>`` at it (then drops the one it replaced), so a push that dies midway leaves the served
collection whole; an open ``MilvusVectors`` searches the collection it checked, and after a push follows
the alias only to a collection that passes the same check, so it never returns another index's rows.

pymilvus is imported where it is first used: it is an optional extra, and importing it costs ~0.3 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from passage_search.errors import IndexMismatchError, PassageSearchError, VectorStoreError, first_line
from passage_search.index.manifest import CURRENT, FORMAT_VERSION
from passage_search.index.store import LoadedIndex

if TYPE_CHECKING:
    from passage_search.index.topk import VectorIndex

STORE_FORMAT = 1  # the collection's layout: fields row, passage_id, vector and the two properties below
IDENTITY = "passage_search.identity"  # collection property: StoreIdentity as JSON
LAYOUT = "passage_search.layout"  # collection property: index type and parameters, when and what pushed it
STORES = ("faiss", "milvus")
ENV_STORE, ENV_URI = "PASSAGE_SEARCH_VECTOR_STORE", "PASSAGE_SEARCH_MILVUS_URI"
ENV_COLLECTION, ENV_TOKEN = "PASSAGE_SEARCH_MILVUS_COLLECTION", "PASSAGE_SEARCH_MILVUS_TOKEN"
INSTALL_HINT = "pip install 'passage-search[milvus]'"
CONNECT_TIMEOUT = 5.0  # seconds; pymilvus would wait 10 s for an address nobody answers on
CALL_TIMEOUT = 10.0  # bounds pymilvus's retries (75 by default, minutes) when the server goes away
MAX_TOPK = 16384  # Milvus refuses a larger limit
CONSISTENCY = "Bounded"  # a pushed collection is flushed and loaded before its alias moves: nothing newer
HNSW_EF, IVF_NPROBE = 128, 96  # search breadth, as ann.py's defaults
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")  # Milvus allows 255; the content key needs the rest

# gRPC keepalive: pymilvus pings every 10 s, between calls too, and a gRPC server with default settings (Milvus
# Lite's) counts those as abuse: after a 30,000-row push, 200 searches and 50 s without a call it sent GOAWAY
# "too_many_pings" and pymilvus never reconnected. Pinging only during calls kept that run working, and suits
# every server; each call has its own timeout to notice a dead one.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 60_000, "grpc.keepalive_permit_without_calls": False}
_quieted = False


@dataclass(frozen=True)
class StoreIdentity:
    """What a collection and the local index whose rows it serves must agree on."""

    model: str
    model_fingerprint: str
    dimension: int
    corpus_fingerprint: str
    passage_count: int
    rows_fingerprint: str  # passage ids in row order and how they were embedded: which vector sits in which row
    index_format: int = FORMAT_VERSION
    store_format: int = STORE_FORMAT

    @classmethod
    def of(cls, index: LoadedIndex) -> StoreIdentity:
        m = index.manifest
        settings = [m.model.fingerprint, m.embed_headings, m.passage_prefix, m.normalized]
        digest = hashlib.sha256(json.dumps(settings).encode())
        for passage in index.passages:
            digest.update(passage.id.encode() + b"\n")
        return cls(
            m.model.name, m.model.fingerprint, m.model.dimension, m.corpus_fingerprint, m.passage_count,
            digest.hexdigest()[:16],
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> StoreIdentity | None:
        """The identity a push stored, or None for a collection passage-search did not write."""
        try:
            data = json.loads(text or "")
            return cls(**{f.name: data[f.name] for f in fields(cls)})
        except (ValueError, TypeError, KeyError):
            return None

    def differences(self, found: StoreIdentity) -> list[str]:
        """How ``found`` (a collection's identity) differs from this (the local index's), in words."""
        out = []
        if (found.store_format, found.index_format) != (self.store_format, self.index_format):
            out.append(f"it was pushed in format {found.store_format}/{found.index_format}, this passage-search "
                       f"reads {self.store_format}/{self.index_format}")
        if found.model_fingerprint != self.model_fingerprint:
            out.append(f"its vectors come from model {found.model} ({found.model_fingerprint}), the local index's "
                       f"from {self.model} ({self.model_fingerprint})")
        if found.dimension != self.dimension:
            out.append(f"it holds {found.dimension}-d vectors, the local index {self.dimension}-d ones")
        if found.corpus_fingerprint != self.corpus_fingerprint:
            out.append(f"it was built from corpus {found.corpus_fingerprint}, the local index from "
                       f"{self.corpus_fingerprint}")
        if found.passage_count != self.passage_count:
            out.append(f"it holds {found.passage_count} passages, the local index {self.passage_count}")
        if not out and found.rows_fingerprint != self.rows_fingerprint:
            out.append("its passages are in another order or were embedded with other settings")
        return out


def default_collection(index: LoadedIndex) -> str:
    """The collection name an index is pushed to when none is given: one per corpus."""
    return f"passages_{index.manifest.corpus_fingerprint}"


class MilvusVectors:
    """A Milvus collection searched like a FAISS index: ``.ntotal``, ``.d`` and ``search(x, k)``.

    Opening checks the collection's identity against the local index's and refuses a mismatch. When a push
    replaces the collection, the next search opens the new one if it holds the same index (e.g. pushed with
    another index type), and refuses it otherwise: rows of another index are never returned.
    """

    def __init__(
        self,
        uri: str,
        collection: str,
        expected: StoreIdentity,
        *,
        index_dir: str = "INDEX",
        timeout: float = CALL_TIMEOUT,
        consistency_level: str = CONSISTENCY,
    ) -> None:
        check_name(collection)
        self.uri, self.collection, self.expected = uri, collection, expected
        self.timeout, self.consistency_level = timeout, consistency_level
        self._hint = f"passage-search milvus push --index {index_dir} --uri {uri} --collection {collection}"
        self._client = connect(uri)
        self.ntotal: int = expected.passage_count
        self.d: int = expected.dimension
        self._open()

    def _open(self) -> None:
        """Resolve the alias and check what it names: sets ``target`` (the collection) and ``index_type``."""
        name, uri, timeout, hint = self.collection, self.uri, self.timeout, self._hint
        with calls(uri, "open a collection at"):
            target = alias_target(self._client, name, timeout) or name
            if not self._client.has_collection(target, timeout=timeout):
                raise VectorStoreError(f"There is no Milvus collection {name} at {uri}; push the index with: {hint}")
            properties = self._client.describe_collection(target, timeout=timeout).get("properties", {})
            found = StoreIdentity.from_json(properties.get(IDENTITY))
            if found is None:
                raise IndexMismatchError(
                    f"The Milvus collection {name} at {uri} was not made by a push; push the index with: {hint}"
                )
            if differences := self.expected.differences(found):
                raise IndexMismatchError(
                    f"The Milvus collection {name} at {uri} does not match the local index "
                    f"({'; '.join(differences[:2])}); push the local index again with: {hint}"
                )
            layout = json.loads(properties.get(LAYOUT) or "{}")
            self._client.load_collection(target, timeout=timeout)  # a no-op when loaded; a released one fails
            count = row_count(self._client, target, timeout)
        if count != self.expected.passage_count:
            raise IndexMismatchError(
                f"The Milvus collection {name} at {uri} holds {count} of the index's {self.expected.passage_count} "
                f"rows; push the local index again with: {hint}"
            )
        self.index_type: str = str(layout.get("index_type", "FLAT"))
        self.target: str = target

    @classmethod
    def for_index(cls, index: LoadedIndex, uri: str, collection: str | None = None, **options: Any) -> MilvusVectors:
        """The collection that serves ``index``'s passage vectors (default name: ``default_collection``)."""
        root = index.path.parent if (index.path.parent / CURRENT).exists() else index.path
        name = collection or default_collection(index)
        return cls(uri, name, StoreIdentity.of(index), index_dir=str(root), **options)

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each of shape (len(x), k), best first; rows padded with -1, as FAISS does."""
        k = int(k)
        scores = np.full((len(x), max(k, 0)), -np.inf, dtype=np.float32)
        rows = np.full((len(x), max(k, 0)), -1, dtype=np.int64)
        if len(x) == 0 or k <= 0:
            return scores, rows
        limit = min(k, MAX_TOPK)
        data = np.asarray(x, dtype=np.float32).tolist()
        try:
            found = self._search(data, limit)
        except Exception as exc:  # pymilvus raises MilvusException, grpc.RpcError or ValueError
            if not self._replaced():
                raise VectorStoreError(
                    f"Milvus at {self.uri} did not answer a search ({first_line(exc, 200)}); check that it is running."
                ) from exc
            self._open()  # a push moved the alias: the new collection, if it holds this index
            with calls(self.uri, "search"):
                found = self._search(data, limit)
        for qi, hits in enumerate(found):
            # Equal scores in FAISS's order, higher row first (Milvus keeps no order among them): fusion ranks
            # by position, so a tie ordered differently would fuse differently from the FAISS index's answer.
            ranked = sorted(((float(h["distance"]), int(h["row"])) for h in hits[:limit]), reverse=True)
            for j, (score, row) in enumerate(ranked):
                rows[qi, j], scores[qi, j] = row, score
        return scores, rows

    def _search(self, data: list[list[float]], limit: int) -> Any:
        params: dict[str, Any] = {"metric_type": "IP", "params": {}}
        if self.index_type == "HNSW":
            params["params"] = {"ef": max(limit, HNSW_EF)}  # the beam must hold k results
        elif self.index_type == "IVF_FLAT":
            params["params"] = {"nprobe": IVF_NPROBE}
        return self._client.search(
            self.target, data=data, limit=limit, anns_field="vector", search_params=params,
            timeout=self.timeout, consistency_level=self.consistency_level,
            output_fields=["row"],  # Milvus Lite sends every field, vectors too, when none are named
        )

    def _replaced(self) -> bool:
        try:
            return not self._client.has_collection(self.target, timeout=self.timeout)
        except Exception:
            return False

    def close(self) -> None:
        self._client.close()


def opener(
    store: str | None = None, uri: str | None = None, collection: str | None = None
) -> Callable[[LoadedIndex], VectorIndex | None]:
    """What ``Searcher(vectors=...)`` takes: the store for a loaded index (None: its own FAISS index).

    Unset arguments come from $PASSAGE_SEARCH_VECTOR_STORE, $PASSAGE_SEARCH_MILVUS_URI and
    $PASSAGE_SEARCH_MILVUS_COLLECTION; the store defaults to faiss.
    """

    def open_store(index: LoadedIndex) -> VectorIndex | None:
        kind = (store or os.environ.get(ENV_STORE, "") or "faiss").strip().lower()
        if kind not in STORES:
            raise VectorStoreError(f"Unknown vector store {kind!r}; choose faiss or milvus ({ENV_STORE}).")
        if kind == "faiss":
            if uri or collection:  # given on purpose (not from the environment): say it does nothing
                raise VectorStoreError("--uri and --collection only apply with --vector-store milvus.")
            return None
        address = uri or os.environ.get(ENV_URI, "")
        if not address:
            raise VectorStoreError(f"The milvus vector store needs --uri or {ENV_URI} (e.g. http://127.0.0.1:19530).")
        return MilvusVectors.for_index(index, address, collection or os.environ.get(ENV_COLLECTION) or None)

    return open_store


def vectors_from_env(index: LoadedIndex) -> VectorIndex | None:
    """The page's store, from the environment alone: ``Searcher(path, vectors=vectors_from_env)``."""
    return opener()(index)


def connect(uri: str) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise VectorStoreError(f"Serving vectors from Milvus needs pymilvus: {INSTALL_HINT}") from None
    # pymilvus installs its own stderr handler at import and logs each failed call with a traceback; we turn
    # every failure into one sentence instead (logging.getLogger("pymilvus").setLevel(...) brings them back).
    global _quieted
    if not _quieted:
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        _quieted = True
    try:
        # The token (user:password, or a Zilliz API key) comes from the environment, never a flag: ps shows flags.
        return MilvusClient(
            uri=uri, token=os.environ.get(ENV_TOKEN, ""), timeout=CONNECT_TIMEOUT, grpc_options=GRPC_OPTIONS
        )
    except Exception as exc:
        raise VectorStoreError(
            f"Cannot reach Milvus at {uri} ({first_line(exc, 200)}); start it, or check --uri and {ENV_TOKEN}."
        ) from exc


@contextmanager
def calls(uri: str, doing: str) -> Iterator[None]:
    """pymilvus's errors (MilvusException, grpc.RpcError, ValueError, ...) as one sentence."""
    try:
        yield
    except PassageSearchError:
        raise
    except Exception as exc:
        raise VectorStoreError(f"Could not {doing} Milvus at {uri}: {first_line(exc, 200)}.") from exc


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise VectorStoreError(
            f"{name!r} cannot name a Milvus collection; use letters, digits and underscores (up to 200), "
            "not starting with a digit."
        )


def alias_target(client: Any, name: str, timeout: float) -> str | None:
    # Listed first rather than described: describing a name that is not an alias is an error pymilvus logs.
    if name not in client.list_aliases(timeout=timeout).get("aliases", []):
        return None
    return str(client.describe_alias(name, timeout=timeout)["collection_name"])


def row_count(client: Any, name: str, timeout: float) -> int:
    found = client.query(name, filter="", output_fields=["count(*)"], timeout=timeout, consistency_level="Strong")
    return int(found[0]["count(*)"]) if found else 0
