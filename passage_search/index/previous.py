"""The index already at a folder, as the next build reuses it: only files whose checksum still matches."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from passage_search.errors import IndexNotFoundError, PassageSearchError
from passage_search.index import integrity
from passage_search.index.calibration import PROBE_ARRAY
from passage_search.index.manifest import (
    DOCUMENTS,
    HEADING_ARRAY,
    HEADING_LIST,
    HEADINGS,
    PASSAGES,
    VECTOR_ARRAY,
    VECTORS,
    Manifest,
    read_manifest,
    resolve,
)
from passage_search.index.store import plain_vectors
from passage_search.ingest.splitter import DocumentSplit
from passage_search.passage import Passage


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
