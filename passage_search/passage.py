"""The vocabulary shared by every stage: a passage and a search hit."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

HEADING_SEPARATOR = " › "


@dataclass(frozen=True)
class Passage:
    """One searchable piece of a document, with the headings it sits under.

    ``heading_path`` starts with the document title, so it reads as a breadcrumb.
    """

    id: str
    doc_id: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    source: str
    position: int
    publisher: str = ""
    url: str = ""  # the section on the publisher's site (ingest/section.py); "" if unknown

    @property
    def breadcrumb(self) -> str:
        return HEADING_SEPARATOR.join(self.heading_path)

    @property
    def source_line(self) -> str:
        """Where the passage comes from, as every face shows it: publisher — file."""
        return f"{self.publisher} — {self.source}" if self.publisher else self.source

    @property
    def citation(self) -> str:
        """Where the passage comes from, as a reader names it: publisher — document title (the file's name
        when the document has no title). The page and the copied text use it; the CLI keeps ``source_line``."""
        name = self.title or self.source
        return f"{self.publisher} — {name}" if self.publisher else name

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["heading_path"] = list(self.heading_path)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Passage:
        return cls(
            id=str(data["id"]),
            doc_id=str(data["doc_id"]),
            title=str(data["title"]),
            heading_path=tuple(str(h) for h in data["heading_path"]),
            text=str(data["text"]),
            source=str(data["source"]),
            position=int(data["position"]),
            publisher=str(data.get("publisher", "")),
            url=str(data.get("url", "")),
        )


@dataclass(frozen=True)
class Hit:
    """A passage returned for a question.

    ``ranks`` and ``scores`` hold its rank and raw score in each retriever that found it (for "dense",
    the cosine similarity of passage and question; "heading", that of its heading path; "lexical", BM25).
    """

    passage: Passage
    score: float
    rank: int
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def similarity(self) -> float | None:
        """How close in meaning the passage is to the question (cosine), if the dense retriever found it."""
        return self.scores.get("dense")

    def to_json(self) -> dict[str, Any]:
        p = self.passage
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "id": p.id,
            "doc_id": p.doc_id,
            "heading_path": list(p.heading_path),
            "title": p.title,
            "text": p.text,
            "source": p.source,
            "publisher": p.publisher,
            "url": p.url,
            "ranks": dict(self.ranks),
            "scores": {name: round(float(v), 6) for name, v in self.scores.items()},
        }


def passage_id(doc_id: str, heading_path: tuple[str, ...], text: str, occurrence: int = 0) -> str:
    """A stable id: the same text at the same place gets the same id in every build."""
    key = "\x1f".join([doc_id, *heading_path, text, str(occurrence)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embedding_text(passage: Passage, *, with_headings: bool = True, prefix: str = "") -> str:
    """What the model sees for a passage: its heading path (if enabled) and its text."""
    if with_headings:
        return f"{prefix}{passage.breadcrumb}\n\n{passage.text}"
    return f"{prefix}{passage.text}"


def passages_fingerprint(passages: Sequence[Passage]) -> str:
    """A hash of ``passages`` in row order, each id recomputed from its document, heading path and text.

    Raises ValueError naming the first row whose stored id is not the one its content gives: the text,
    headings or document of that row were changed after the split.
    """
    digest = hashlib.sha256()
    sha256 = hashlib.sha256
    seen: dict[tuple[str, tuple[str, ...], str], int] = {}
    for row, p in enumerate(passages):
        # passage_id inlined: this runs on every load, over every passage of the index.
        key = (p.doc_id, p.heading_path, p.text)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        pid = sha256("\x1f".join([p.doc_id, *p.heading_path, p.text, str(occurrence)]).encode()).hexdigest()[:16]
        if pid != p.id:
            raise ValueError(f"passage {row} does not have the id its text, headings and document give")
        digest.update(f"{pid}\x1e{p.title}\x1e{p.source}\x1e{p.publisher}\x1e{p.url}\x1e{p.position}\n".encode())
    return digest.hexdigest()
