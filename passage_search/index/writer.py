"""Writing a generation: every file, their checksums, then ``current`` swapped in one rename.

A reader always sees a whole generation: a build that dies midway leaves the previous index untouched,
a failed write removes what it wrote, and the next build removes what killed builds left behind.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from passage_search.errors import IndexWriteError, PassageSearchError, sentence
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
    VECTOR_ARRAY,
    VECTORS,
    Manifest,
    manifest_text,
    resolve,
)
from passage_search.index.store import heading_paths
from passage_search.ingest.splitter import DocumentSplit
from passage_search.passage import Passage, passages_fingerprint

GENERATION_PREFIX = "gen-"


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
