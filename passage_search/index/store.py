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

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from passage_search.errors import IndexMismatchError, IndexNotFoundError, PassageSearchError
from passage_search.index import ann, integrity
from passage_search.index.lexical import LexicalIndex
from passage_search.index.manifest import (
    HEADING_ARRAY,
    HEADING_LIST,
    HEADINGS,
    LEXICAL_DIR,
    REPAIR_HINT,
    VECTOR_ARRAY,
    BuildKey,
    Manifest,
    differs,
    read_manifest,
    resolve,
)
from passage_search.passage import Passage, passages_fingerprint

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
