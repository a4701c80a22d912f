"""The corpus as a tree of headings: for browsing, for filters, and for example searches.

A person who cannot phrase a question can still walk the headings to the passage; a staff member can
narrow a search to one document or one top-level topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from passage_search.ingest.notices import is_notice
from passage_search.passage import HEADING_SEPARATOR, Passage


@dataclass(frozen=True)
class Topic:
    """One heading and what sits under it: its own passages (rows) and its sub-headings."""

    path: tuple[str, ...]
    rows: tuple[int, ...]
    children: tuple[Topic, ...]

    @property
    def title(self) -> str:
        return self.path[-1]

    @property
    def key(self) -> str:
        return HEADING_SEPARATOR.join(self.path)

    def all_rows(self) -> tuple[int, ...]:
        """Its passages and those of every sub-heading, in document order."""
        return tuple(sorted(self.rows + tuple(r for c in self.children for r in c.all_rows())))


def topic_tree(passages: Sequence[Passage]) -> list[Topic]:
    """One root per document title, heading paths nested under it, in document order."""
    own: dict[tuple[str, ...], list[int]] = {}
    kids: dict[tuple[str, ...], dict[tuple[str, ...], None]] = {}
    roots: dict[tuple[str, ...], None] = {}
    for row, p in enumerate(passages):
        path = p.heading_path or (p.title or p.source,)
        own.setdefault(path, []).append(row)
        roots.setdefault(path[:1])
        for depth in range(1, len(path)):
            kids.setdefault(path[:depth], {}).setdefault(path[: depth + 1])
            own.setdefault(path[:depth], [])

    def make(path: tuple[str, ...]) -> Topic:
        return Topic(path, tuple(own.get(path, ())), tuple(make(c) for c in kids.get(path, {})))

    return [make(r) for r in roots]


def top_topic(passage: Passage) -> str:
    """The top-level topic a passage belongs to: its first heading under the document title."""
    path = passage.heading_path
    return path[1] if len(path) > 1 else (path[0] if path else passage.title)


def document_label(passage: Passage) -> str:
    """How a document is named in a filter: its title, else its file."""
    return passage.title or passage.source


def as_question(heading: str) -> str:
    """A heading phrased as a person might ask about it ("Surgery" -> "What should I know about surgery?")."""
    heading = " ".join(heading.split()).rstrip(".:")
    if heading.endswith("?"):
        return heading
    if len(heading) > 1 and heading[0].isupper() and heading[1].islower():  # not an acronym like "HIV"
        heading = heading[0].lower() + heading[1:]
    return f"What should I know about {heading}?"


def example_searches(passages: Sequence[Passage], n: int = 4) -> list[str]:
    """Questions to offer as one-click searches on an empty page, made from the corpus's own headings.

    The top-level topics with the most text, one per topic, in document order, each phrased as a
    question; notices (disclaimers, copyright) are never examples.
    """
    weight: dict[str, int] = {}
    for p in passages:
        if is_notice(p) or len(p.heading_path) < 2:
            continue
        weight[top_topic(p)] = weight.get(top_topic(p), 0) + len(p.text)
    best = sorted(weight, key=lambda t: -weight[t])[:n]
    return [as_question(t) for t in weight if t in best]
