"""A section: the text under one heading path of one document, as every reader returns it.

Splitting sections into passages that fit the model is the splitter's job, not the readers'.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Section:
    doc_id: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    source: str
    publisher: str = ""
    # Where a reader can open this section on the publisher's site: the document's URL (sidecar ``url``)
    # with the heading's anchor where the format gives one; "" if unknown.
    url: str = ""


def under_headings(items: Iterable[tuple[int, str] | T], title: str) -> Iterator[tuple[tuple[str, ...], list[T]]]:
    """Group body items under their heading path, for every reader whose headings have levels.

    ``items`` are ``(level, heading)`` tuples and body items (never tuples), in document order; a heading
    closes every open heading of its level or deeper, as in Markdown. Each non-empty group comes with its
    heading path, which always starts with ``title``.
    """
    stack: list[tuple[int, str]] = []
    body: list[T] = []

    def path() -> tuple[str, ...]:
        found = tuple(h for _, h in stack if h)
        return found if found and found[0] == title else (title, *found)

    for item in items:
        if isinstance(item, tuple):
            if body:
                yield path(), body
            body = []
            level, heading = item
            stack = [(lvl, h) for lvl, h in stack if lvl < level] + [(level, heading)]
        else:
            body.append(item)
    if body:
        yield path(), body
