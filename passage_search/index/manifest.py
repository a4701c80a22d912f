"""The index manifest: format version, model, counts, fingerprints and settings a search must match.

Every generation folder holds one ``manifest.json``; ``read_manifest`` refuses one this version cannot
trust with one sentence naming the fix.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from passage_search import __version__
from passage_search.errors import IndexMismatchError, IndexNotFoundError

LEXICAL_DIR = "lexical"
# 2: heading vectors (headings.faiss, headings.jsonl) and the lexical/ folder joined the index.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
# The vectors again as a plain array, whatever the FAISS index type: the next build reuses them (cache.py).
VECTOR_ARRAY = "vectors.npy"
PASSAGES = "passages.jsonl"
HEADINGS = "headings.faiss"
HEADING_LIST = "headings.jsonl"
HEADING_ARRAY = "headings.npy"
CURRENT = "current"
BUILD_HINT = "python build_index.py"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    fingerprint: str
    dimension: int
    max_tokens: int
    path: str = ""
    backend: str = ""  # "torch", "onnx", "onnx-int8" ("" : built before backends were recorded)


@dataclass(frozen=True)
class Manifest:
    model: ModelInfo
    passage_count: int
    document_count: int
    corpus_fingerprint: str
    corpus: str = ""
    embed_headings: bool = True
    query_prefix: str = ""
    passage_prefix: str = ""
    normalized: bool = True
    metric: str = "inner_product"
    # The passage index's type (flat, hnsw, ivf) and parameters, set again on load: see ann.py.
    index_type: str = "flat"
    index_params: dict[str, int] = field(default_factory=dict)
    # The heading index's, chosen the same way by the number of heading paths (flat in older indexes).
    heading_index_type: str = "flat"
    heading_index_params: dict[str, int] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    package_version: str = __version__
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    files: dict[str, str] = field(
        default_factory=lambda: {
            "vectors": VECTORS,
            "vector_array": VECTOR_ARRAY,
            "passages": PASSAGES,
            "lexical": LEXICAL_DIR,
            "headings": HEADINGS,
            "heading_list": HEADING_LIST,
            "heading_array": HEADING_ARRAY,
        }
    )
    lexical: dict[str, Any] = field(default_factory=dict)
    # Build settings that shape the passages but have no field above (e.g. the splitter's overlap).
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        fields = dict(data)
        fields["model"] = ModelInfo(**fields["model"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in fields.items() if k in known})


def resolve(root: Path) -> Path:
    """The generation folder that ``root`` (an index folder, or one generation) stands for."""
    if (root / MANIFEST).is_file():
        return root
    current = root / CURRENT
    if current.is_symlink() or current.exists():
        return current.resolve()
    raise IndexNotFoundError(f"No index found at {root}; build it with: {BUILD_HINT}")


def read_manifest(root: Path) -> Manifest:
    gen = resolve(root)
    path = gen / MANIFEST
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise IndexNotFoundError(f"No index found at {root}; build it with: {BUILD_HINT}") from exc
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(f"The index manifest {path} is unreadable; rebuild with: {BUILD_HINT}") from exc
    version = data.get("format_version") if isinstance(data, dict) else None
    if not isinstance(version, int):
        raise IndexMismatchError(f"The index manifest {path} has no format version; rebuild with: {BUILD_HINT}")
    if version > FORMAT_VERSION:
        raise IndexMismatchError(
            f"The index at {root} uses format {version}, newer than this passage-search understands "
            f"({FORMAT_VERSION}); upgrade passage-search or rebuild with: {BUILD_HINT}"
        )
    if version < FORMAT_VERSION:
        raise IndexMismatchError(
            f"The index at {root} uses format {version}, older than this passage-search writes "
            f"({FORMAT_VERSION}); rebuild it with: {BUILD_HINT}"
        )
    try:
        return Manifest.from_json(data)
    except (KeyError, TypeError) as exc:
        raise IndexMismatchError(f"The index manifest {path} is incomplete; rebuild with: {BUILD_HINT}") from exc
