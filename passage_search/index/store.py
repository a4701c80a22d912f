"""The index on disk: a folder of plain files with a versioned manifest.

    index/
      current -> gen-20261127T101500-1234   (a symlink, swapped in one rename when a build finishes)
      gen-.../manifest.json                 format version, model, dimension, counts, fingerprints, and the
                                            sha256 of every other file (integrity.py) under its own digest
      gen-.../vectors.faiss                 the FAISS index; row i is passage i
      gen-.../vectors.npy                   the same vectors as a plain float32 array (the next build's cache)
      gen-.../passages.jsonl                one passage a line, in row order
      gen-.../documents.jsonl               per document: its id, split key and passage rows (the next build's)
      gen-.../headings.faiss, headings.jsonl  one vector per distinct heading path, and the paths in row order
      gen-.../lexical/                      the BM25 index (bm25s files) and the corpus word counts

A reader always sees a whole generation: a build writes a new folder and only then points
``current`` at it, so a build that dies midway leaves the previous index untouched.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from passage_search.errors import IndexMismatchError, IndexNotFoundError, IndexWriteError, PassageSearchError, sentence
from passage_search.index import ann, integrity
from passage_search.index.calibration import PROBE_ARRAY
from passage_search.index.lexical import LexicalIndex
from passage_search.index.manifest import (
    CURRENT,
    DOCUMENTS,
    HEADING_ARRAY,
    HEADING_LIST,
    HEADINGS,
    LEXICAL_DIR,
    MANIFEST,
    PASSAGES,
    REPAIR_HINT,
    VECTOR_ARRAY,
    VECTORS,
    BuildKey,
    Manifest,
    differs,
    manifest_text,
    read_manifest,
    resolve,
)
from passage_search.ingest.splitter import DocumentSplit
from passage_search.passage import Passage, passages_fingerprint

GENERATION_PREFIX = "gen-"

if TYPE_CHECKING:
    import faiss


@dataclass
class LoadedIndex:
    path: Path
    manifest: Manifest
    passages: list[Passage]
    vectors: faiss.Index
    lexical: LexicalIndex
    headings: faiss.Index
    heading_rows: list[list[int]]

    @property
    def heading_count(self) -> int:
        return len(self.heading_rows)

    @cached_property
    def vector_array(self) -> np.ndarray:
        """Every passage vector as a plain array (row i = passage i), read on first use (memory-mapped)."""
        return plain_vectors(self.vectors, self.path / self.manifest.files.get("vector_array", VECTOR_ARRAY))

    @cached_property
    def heading_array(self) -> np.ndarray:
        """Every heading vector as a plain array, in headings.jsonl's order."""
        return plain_vectors(self.headings, self.path / self.manifest.files.get("heading_array", HEADING_ARRAY))


def plain_vectors(index: faiss.Index | Path, array: Path | None = None, *, exact: bool = False) -> np.ndarray:
    """Every vector of a FAISS index (or index file), row i = id i: the plain ``array`` beside it if there is one.

    Else FAISS's copy: every type we build keeps its vectors uncompressed (IVF gives them back through its
    direct map). ``exact``: refuse other types, whose vectors may be compressed (a cache of those degrades).
    """
    if array is not None and array.is_file():
        return np.load(array, mmap_mode="r", allow_pickle=False)
    import faiss  # imported here: loading the FAISS library is not free

    if isinstance(index, Path):
        index = faiss.read_index(str(index))
    if exact and not isinstance(index, faiss.IndexFlat | faiss.IndexHNSWFlat | faiss.IndexIVFFlat):
        raise ValueError(f"a {type(index).__name__} may not hold its vectors exactly")
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()
    return index.reconstruct_n(0, index.ntotal)


class Previous:
    """The current generation of an index folder as the next build reuses it, each file read when asked for.

    Only files whose sha256 matches the manifest (``intact``) are read; every part raises ValueError for a
    file that is not, and whatever json, numpy or FAISS raise otherwise: that part is then not reused.
    """

    def __init__(self, path: Path, manifest: Manifest, intact: set[str]) -> None:
        self.path, self.manifest, self.intact = path, manifest, intact

    @property
    def damaged(self) -> list[str]:
        """The listed files that are missing or not as written."""
        return sorted(set(self.manifest.checksums) - self.intact)

    def _file(self, name: str, default: str) -> Path:
        if (path := self._intact(name, default)) is None:
            raise ValueError(f"{self.manifest.files.get(name, default)} is not as its build wrote it")
        return path

    def _intact(self, name: str, default: str) -> Path | None:
        relative = self.manifest.files.get(name, default)
        return self.path / relative if relative in self.intact else None

    @cached_property
    def passages(self) -> list[Passage]:
        with open(self._file("passages", PASSAGES), encoding="utf-8") as fh:
            return [Passage.from_json(json.loads(line)) for line in fh if line.strip()]

    def passage_vectors(self) -> np.ndarray:
        array = self._intact("vector_array", VECTOR_ARRAY)
        return plain_vectors(array or self._file("vectors", VECTORS), array, exact=True)

    def heading_texts(self) -> list[str]:  # the distinct heading paths, in the heading vectors' order
        listed = self._file("heading_list", HEADING_LIST).read_text("utf-8").splitlines()
        return [str(json.loads(line)) for line in listed if line]

    def heading_vectors(self) -> np.ndarray:
        array = self._intact("heading_array", HEADING_ARRAY)
        return plain_vectors(array or self._file("headings", HEADINGS), array, exact=True)

    def probe_array(self) -> Path | None:
        """The calibration probes' vectors, if intact."""
        return self.path / PROBE_ARRAY if PROBE_ARRAY in self.intact else None

    @cached_property
    def documents(self) -> dict[str, DocumentSplit]:
        """Each document's split key and passage rows; none for an index written before they were recorded."""
        if "documents" not in self.manifest.files:
            return {}
        with open(self._file("documents", DOCUMENTS), encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        splits = [DocumentSplit(str(r["id"]), str(r["key"]), int(r["rows"][0]), int(r["rows"][1])) for r in rows]
        return {d.doc_id: d for d in splits}

    def split_of(self, doc_id: str, key: str) -> list[Passage] | None:
        """The passages of ``doc_id`` if split for ``key`` (splitter.document_key); read both files first."""
        found = self.documents.get(doc_id)
        if found is None or found.key != key or not 0 <= found.start < found.stop:
            return None
        part = self.passages[found.start : found.stop]
        return part if len(part) == found.stop - found.start else None


def previous_generation(root: Path) -> tuple[Previous | None, str | None]:
    """The index at ``root`` for the next build to reuse, and what of it is damaged (None: nothing).

    None for the generation too if there is none, or its manifest cannot be trusted. Of a generation with
    damaged files only the intact ones are read (each file's sha256 against the manifest).
    """
    try:
        gen, manifest = resolve(root), read_manifest(root)
    except IndexNotFoundError:
        return None, None
    except PassageSearchError as exc:
        return None, str(exc)
    previous = Previous(gen, manifest, integrity.intact(gen, manifest))
    damaged = previous.damaged
    return previous, (f"{', '.join(damaged[:3])} {'is' if len(damaged) == 1 else 'are'} damaged" if damaged else None)


def stale_reason(root: Path, want: BuildKey, *, verify: bool = True) -> str | None:
    """Why the index at ``root`` is not what a build of ``want`` would write; None: it is.

    ``verify``: also load it, so a damaged index (or one without the next build's cache) counts as stale.
    """
    try:
        manifest = read_manifest(root)
    except IndexNotFoundError:
        return "there is no index yet"
    except IndexMismatchError as exc:
        return str(exc)
    why = differs(manifest, want)
    if why is not None or not verify:
        return why
    try:
        load_index(root)  # checks every file against the manifest
    except PassageSearchError as exc:
        return str(exc)
    try:  # the next build's cache must be whole too; only the array's header is read
        array = np.load(resolve(root) / manifest.files["vector_array"], mmap_mode="r", allow_pickle=False)
        whole = array.shape == (manifest.passage_count, manifest.model.dimension) and array.dtype == np.float32
    except Exception:  # missing, foreign or damaged: all mean no
        whole = False
    return None if whole else "its plain vector array, the next build's embedding cache, is missing or damaged"


def heading_paths(passages: list[Passage]) -> list[str]:
    """The distinct heading paths of ``passages`` (breadcrumbs), in first-seen order."""
    return list(dict.fromkeys(p.breadcrumb for p in passages))


def write_index(
    root: Path,
    manifest: Manifest,
    passages: list[Passage],
    vectors: np.ndarray,
    lexical: LexicalIndex,
    heading_vectors: np.ndarray,
    documents: Sequence[DocumentSplit] = (),
    probes: np.ndarray | None = None,
) -> Path:
    """Write a new generation under ``root`` and make it current in one atomic rename.

    ``documents``: each document's passage rows and split key, for the next build (Previous.split_of).
    ``probes``: the calibration probes' vectors, for the next build (calibration.py).
    """
    import faiss  # imported here: loading the FAISS library is not free and --help must stay instant

    if len(passages) != len(vectors):
        raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")
    headings = heading_paths(passages)
    if len(headings) != len(heading_vectors):
        raise ValueError(f"{len(headings)} heading paths but {len(heading_vectors)} heading vectors")
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    gen = root / f"{GENERATION_PREFIX}{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    link_tmp = root / f".{CURRENT}.{os.getpid()}.tmp"
    try:
        gen.mkdir()
        spec = ann.IndexSpec(manifest.index_type, manifest.index_params)
        faiss.write_index(ann.build(vectors, spec, dimension=manifest.model.dimension), str(gen / VECTORS))
        np.save(gen / VECTOR_ARRAY, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        heading_spec = ann.IndexSpec(manifest.heading_index_type, manifest.heading_index_params)
        heading_index = ann.build(heading_vectors, heading_spec, dimension=manifest.model.dimension)
        faiss.write_index(heading_index, str(gen / HEADINGS))
        np.save(gen / HEADING_ARRAY, np.ascontiguousarray(heading_vectors, dtype=np.float32), allow_pickle=False)
        (gen / HEADING_LIST).write_text("".join(json.dumps(h, ensure_ascii=False) + "\n" for h in headings), "utf-8")
        with open(gen / PASSAGES, "w", encoding="utf-8") as fh:
            for p in passages:
                fh.write(json.dumps(p.to_json(), ensure_ascii=False) + "\n")
        with open(gen / DOCUMENTS, "w", encoding="utf-8") as fh:
            for d in documents:
                row = {"id": d.doc_id, "key": d.key, "rows": [d.start, d.stop]}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        lexical.save(gen / LEXICAL_DIR)
        if probes is not None:
            np.save(gen / PROBE_ARRAY, np.ascontiguousarray(probes, dtype=np.float32), allow_pickle=False)
        _fsync_tree(gen)
        # Hashed from disk after the fsync: the checksums prove the bytes a reader will get.
        proved = replace(
            manifest, checksums=integrity.checksums(gen), passages_fingerprint=passages_fingerprint(passages)
        )
        (gen / MANIFEST).write_text(manifest_text(proved), "utf-8")
        _fsync_tree(gen, only=MANIFEST)
        if link_tmp.is_symlink() or link_tmp.exists():
            link_tmp.unlink()
        os.symlink(gen.name, link_tmp)
        os.replace(link_tmp, root / CURRENT)
    except BaseException as exc:  # the disk filled, FAISS failed to write, or the build was interrupted
        shutil.rmtree(gen, ignore_errors=True)
        link_tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError | RuntimeError | MemoryError):
            raise IndexWriteError(
                f"The index at {root} could not be written ({_write_failure(exc, root)}); the previous index "
                "is unchanged."
            ) from exc
        raise
    _remove_old_generations(root, keep=gen.name)
    return gen


def _write_failure(exc: BaseException, root: Path) -> str:
    """Why writing failed, in a few words: FAISS reports a full disk as a C++ RuntimeError, so look."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    try:
        if shutil.disk_usage(root).free < 1 << 20:
            return "the disk is full"
    except OSError:
        pass
    return sentence(exc).rstrip(".")


def remove_leftovers(root: Path) -> list[str]:
    """Remove what killed builds left in ``root`` (generations never made current, temporary links).

    Call only while holding the build lock: every other build that could own them is then dead.
    """
    if not root.is_dir():
        return []
    try:
        keep = resolve(root).name
    except PassageSearchError:
        keep = ""
    removed = []
    for item in root.iterdir():
        if item.name.startswith(GENERATION_PREFIX) and item.name != keep and not item.is_symlink() and item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
            removed.append(item.name)
        elif item.name.startswith(f".{CURRENT}.") and item.name.endswith(".tmp"):
            item.unlink(missing_ok=True)
            removed.append(item.name)
    return removed


def _fsync_tree(folder: Path, only: str | None = None) -> None:
    for path in [folder / only] if only else folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def _remove_old_generations(root: Path, keep: str) -> None:
    for old in root.glob(f"{GENERATION_PREFIX}*"):
        if old.name != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def load_index(root: Path) -> LoadedIndex:
    """Load and check an index: counts, dimension and files must agree with the manifest."""
    import faiss

    manifest = read_manifest(root)
    gen = resolve(root)
    integrity.verify(root, gen, manifest)  # every file as written: nothing below reads a damaged one
    try:
        vectors = faiss.read_index(str(gen / manifest.files["vectors"]))
    except Exception as exc:  # FAISS raises RuntimeError with C++ text for any damage
        raise IndexMismatchError(
            f"The vector file of the index at {root} is missing or damaged; rebuild with: {REPAIR_HINT}"
        ) from exc
    try:
        with open(gen / manifest.files["passages"], encoding="utf-8") as fh:
            passages = [Passage.from_json(json.loads(line)) for line in fh if line.strip()]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexMismatchError(
            f"The passage file of the index at {root} is missing or damaged; rebuild with: {REPAIR_HINT}"
        ) from exc
    try:
        lexical = LexicalIndex.load(gen / manifest.files.get("lexical", LEXICAL_DIR))
    except Exception as exc:  # bm25s raises whatever numpy or json raise on damaged files
        raise IndexMismatchError(
            f"The lexical part of the index at {root} is missing or damaged; rebuild with: {REPAIR_HINT}"
        ) from exc
    try:
        proved = passages_fingerprint(passages) == manifest.passages_fingerprint
    except ValueError:
        proved = False
    if not proved:
        raise IndexMismatchError(
            f"The passages of the index at {root} are not the ones its build wrote (edited, reordered or "
            f"damaged); rebuild it with: {REPAIR_HINT}"
        )
    counts = {len(passages), int(vectors.ntotal), manifest.passage_count, lexical.size}
    if len(counts) != 1:
        raise IndexMismatchError(
            f"The index at {root} is inconsistent ({len(passages)} passages, {vectors.ntotal} vectors, "
            f"{lexical.size} lexical rows, manifest says {manifest.passage_count}); rebuild with: {REPAIR_HINT}"
        )
    if vectors.d != manifest.model.dimension:
        raise IndexMismatchError(
            f"The index at {root} holds {vectors.d}-d vectors but its manifest says {manifest.model.dimension}; "
            f"rebuild with: {REPAIR_HINT}"
        )
    if ann.kind_of(vectors) != manifest.index_type:
        raise IndexMismatchError(
            f"The index at {root} holds a {ann.kind_of(vectors)} vector index but its manifest says "
            f"{manifest.index_type}; rebuild with: {REPAIR_HINT}"
        )
    ann.configure(vectors, ann.IndexSpec(manifest.index_type, manifest.index_params))
    try:
        headings = faiss.read_index(str(gen / manifest.files.get("headings", HEADINGS)))
        heading_file = gen / manifest.files.get("heading_list", HEADING_LIST)
        listed = [json.loads(line) for line in heading_file.read_text("utf-8").splitlines() if line]
    except Exception as exc:
        raise IndexMismatchError(
            f"The heading part of the index at {root} is missing or damaged; rebuild with: {REPAIR_HINT}"
        ) from exc
    rows_of: dict[str, list[int]] = {h: [] for h in heading_paths(passages)}
    for row, p in enumerate(passages):
        rows_of[p.breadcrumb].append(row)
    fits = listed == list(rows_of) and headings.ntotal == len(listed)
    if not fits or ann.kind_of(headings) != manifest.heading_index_type:
        raise IndexMismatchError(
            f"The heading part of the index at {root} does not match its passages; rebuild with: {REPAIR_HINT}"
        )
    ann.configure(headings, ann.IndexSpec(manifest.heading_index_type, manifest.heading_index_params))
    return LoadedIndex(gen, manifest, passages, vectors, lexical, headings, list(rows_of.values()))
