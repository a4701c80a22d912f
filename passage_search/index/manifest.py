"""The index manifest: format version, model, counts, fingerprints and settings a search must match.

Every generation folder holds one ``manifest.json``; ``read_manifest`` refuses one this version cannot
trust with one sentence naming the fix.
"""

from __future__ import annotations

import hashlib
import json
import time
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from passage_search import __version__
from passage_search.errors import IndexMismatchError, IndexNotFoundError
from passage_search.index import ann
from passage_search.index.calibration import probe_digest

LEXICAL_DIR = "lexical"
# 2: heading vectors (headings.faiss, headings.jsonl) and the lexical/ folder joined the index.
# 3: the manifest proves the generation: every file's sha256, the passages' fingerprint, its own digest.
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
# The manifest's hash of its own other fields: a hand edit (a prefix, a count) shows as a mismatch.
DIGEST = "digest"
VECTORS = "vectors.faiss"
# The vectors again as a plain array, whatever the FAISS index type: the next build reuses them (cache.py).
VECTOR_ARRAY = "vectors.npy"
PASSAGES = "passages.jsonl"
HEADINGS = "headings.faiss"
HEADING_LIST = "headings.jsonl"
HEADING_ARRAY = "headings.npy"
# Per document: its id, the key of what its passages were split from, and its passage rows (splitter.py).
DOCUMENTS = "documents.jsonl"
CURRENT = "current"
BUILD_HINT = "python build_index.py"
# For an index that is damaged or was edited: nothing of it may be reused.
REPAIR_HINT = f"{BUILD_HINT} --force"


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
            "documents": DOCUMENTS,
        }
    )
    lexical: dict[str, Any] = field(default_factory=dict)
    # Build settings that shape the passages but have no field above (e.g. the splitter's overlap).
    settings: dict[str, Any] = field(default_factory=dict)
    # The calibration probes' best-cosine statistics on this index (calibration.py); {} before they existed.
    calibration: dict[str, Any] = field(default_factory=dict)
    # Every file of the generation but the manifest, by its path in the generation: its sha256 (integrity.py).
    checksums: dict[str, str] = field(default_factory=dict)
    # passage.passages_fingerprint of passages.jsonl: ids recomputed from content, in row order.
    passages_fingerprint: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        fields = dict(data)
        fields["model"] = ModelInfo(**fields["model"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in fields.items() if k in known})


def manifest_text(m: Manifest) -> str:
    """The manifest file's text: its fields and the digest that proves they were not edited since."""
    data = m.to_json()
    return json.dumps({**data, DIGEST: _digest(data)}, indent=2, ensure_ascii=False) + "\n"


def _digest(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def field_problem(cls: type, data: Any, where: str = "") -> str | None:
    """What is wrong with ``data`` as the JSON of dataclass ``cls`` (an unknown, missing or mistyped field)."""
    if not isinstance(data, dict):
        return f"has {where or 'its content'} as {type(data).__name__}, not an object"
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            return f"has an unknown field {where}{key!r}"
    for name, f in known.items():
        if name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                return f"lacks the field {where}{name!r}"
            continue
        hint = hints[name]
        value = data[name]
        if hint is ModelInfo:
            if problem := field_problem(ModelInfo, value, f"{where}{name}."):
                return problem
            continue
        want = typing.get_origin(hint) or hint
        if want is int and (isinstance(value, bool) or not isinstance(value, int)):
            return f"has {where}{name} = {value!r}, not a whole number"
        if want in (str, bool, dict) and not isinstance(value, want):
            return f"has {where}{name} = {value!r}, not {_KINDS[want]}"
    return None


_KINDS = {str: "text", bool: "true or false", dict: "an object"}


@dataclass(frozen=True)
class BuildKey:
    """Everything a build's output depends on besides the code: an index that matches it is up to date.

    None: not stated by the caller (the page does not know the build flags), so taken as the index records it.
    """

    corpus_fingerprint: str
    corpus: str
    vocabulary: str
    analyzer: str
    model_fingerprint: str | None = None
    max_tokens: int | None = None
    embed_headings: bool | None = None
    query_prefix: str | None = None
    passage_prefix: str | None = None
    overlap: int | None = None
    index_type: str | None = None
    heading_weight: int | None = None
    package_version: str = __version__


def differs(m: Manifest, want: BuildKey) -> str | None:
    """Why an index with manifest ``m`` is not what a build of ``want`` writes (None: it is)."""
    if m.corpus_fingerprint != want.corpus_fingerprint:
        return f"the corpus {want.corpus} changed since the index was built"
    if m.corpus != want.corpus:
        return f"the index was built from {m.corpus or 'another corpus'}, not {want.corpus}"
    if want.index_type is not None and (why := _index_type_differs(m, want.index_type)):
        return why
    if want.model_fingerprint is not None and m.model.fingerprint != want.model_fingerprint:
        return "the configured model differs from the one the index was built with"
    if want.max_tokens is not None and m.model.max_tokens != want.max_tokens:
        return f"the model reads {want.max_tokens} tokens, the index was split for {m.model.max_tokens}"
    if m.lexical.get("vocabulary") != want.vocabulary:
        return "the shipped vocabulary (spelling and lay terms) changed since the index was built"
    if m.calibration.get("probes") != probe_digest():
        return "the index has no confidence calibration for the current probe questions"
    if m.lexical.get("analyzer") != want.analyzer:
        return "the word analyzer of BM25 changed since the index was built"
    stated = [
        ("heading weight", m.lexical.get("heading_weight"), want.heading_weight),
        ("headings embedded", m.embed_headings, want.embed_headings),
        ("query prefix", m.query_prefix, want.query_prefix),
        ("passage prefix", m.passage_prefix, want.passage_prefix),
        ("sentence overlap", m.settings.get("overlap"), want.overlap),
    ]
    for name, have, wanted in stated:
        if wanted is not None and have != wanted:
            return f"the index was built with {name} {have!r}, not {wanted!r}"
    if m.package_version != want.package_version:
        return f"the index was built by passage-search {m.package_version}, this is {want.package_version}"
    return None


def _index_type_differs(m: Manifest, wanted: str) -> str | None:
    kind = ann.choose(m.passage_count, wanted).kind
    if kind != m.index_type:
        return f"the vector index is {m.index_type} and index type {wanted} asks for {kind}"
    # "auto" and an explicit type can pick different heading indexes for the same passage index.
    asked = m.settings.get("index_type", wanted)
    return None if asked == wanted else f"the index was built with index type {asked}, not {wanted}"


def resolve(root: Path) -> Path:
    """The generation folder that ``root`` (an index folder, or one generation) stands for."""
    if (root / MANIFEST).is_file():
        return root
    current = root / CURRENT
    if current.is_symlink() or current.exists():
        try:
            return current.resolve(strict=True)
        except FileNotFoundError:
            pass  # a dangling link: no index, as if it were not there
        except (RuntimeError, OSError) as exc:  # a link to itself or a loop of links (ELOOP)
            raise IndexMismatchError(
                f"The link {current} of the index loops instead of naming a generation; rebuild with: {REPAIR_HINT}"
            ) from exc
    raise IndexNotFoundError(f"No index found at {root}; build it with: {BUILD_HINT}")


def read_manifest(root: Path) -> Manifest:
    gen = resolve(root)
    path = gen / MANIFEST
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise IndexNotFoundError(f"No index found at {root}; build it with: {BUILD_HINT}") from exc
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(f"The index manifest {path} is unreadable; rebuild with: {REPAIR_HINT}") from exc
    version = data.get("format_version") if isinstance(data, dict) else None
    if not isinstance(version, int):
        raise IndexMismatchError(f"The index manifest {path} has no format version; rebuild with: {REPAIR_HINT}")
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
    if data.pop(DIGEST, None) != _digest(data):
        raise IndexMismatchError(
            f"The index manifest {path} was changed after the build (its digest does not match); "
            f"rebuild with: {REPAIR_HINT}"
        )
    if problem := field_problem(Manifest, data):
        raise IndexMismatchError(f"The index manifest {path} {problem}; rebuild with: {REPAIR_HINT}")
    return Manifest.from_json(data)
