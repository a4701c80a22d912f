"""A section: the text under one heading path of one document, as every reader returns it.

Splitting sections into passages that fit the model is the splitter's job, not the readers'.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urlsplit

from passage_search.errors import CorpusError

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
    for path, _anchor, body in anchored(items, title):
        yield path, body


def anchored(
    items: Iterable[tuple[int, str] | tuple[int, str, str] | T], title: str
) -> Iterator[tuple[tuple[str, ...], str, list[T]]]:
    """``under_headings`` for headings that may carry an anchor, ``(level, heading, anchor)``: each group
    also comes with the anchor of the deepest heading on its path that has one ("" if none)."""
    stack: list[tuple[int, str, str]] = []
    body: list[T] = []

    def path() -> tuple[str, ...]:
        found = tuple(h for _, h, _ in stack if h)
        return found if found and found[0] == title else (title, *found)

    def anchor() -> str:
        return next((a for _, _, a in reversed(stack) if a), "")

    for item in items:
        if isinstance(item, tuple):
            if body:
                yield path(), anchor(), body
            body = []
            level, heading, tag = (*item, "")[:3]
            stack = [entry for entry in stack if entry[0] < level] + [(level, heading, tag)]
        else:
            body.append(item)
    if body:
        yield path(), anchor(), body


def document_url(value: object, where: str) -> str:
    """A document's address as a reader takes it (a sidecar's or a BEIR line's ``url``): an http(s) address
    with a host and no white space, or "" for none; ``CorpusError`` naming ``where`` otherwise. A face turns
    it into a link, so nothing else (``javascript:``, ``file:``, a relative path) may get through."""
    if value is None or value == "":
        return ""
    text = value.strip() if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:  # e.g. "http://[::1": a bracket that never closes
        host = None
    plain = text.isprintable() and not any(ch.isspace() for ch in text)
    if not (plain and host and parts.scheme.lower() in ("http", "https")):
        raise CorpusError(f"{where} must be an http:// or https:// address, not {str(value)[:80]!r}.")
    return text


def section_url(document: str, anchor: str) -> str:
    """The address of a section: the document's, with the heading's anchor as its fragment if there is one
    ("" when the document has no address: an anchor alone leads nowhere)."""
    if not document or not anchor:
        return document
    return f"{document.split('#', 1)[0]}#{quote(anchor, safe=_FRAGMENT_SAFE)}"


# Characters a URL fragment may hold as they are (RFC 3986: pchar, "/" and "?"); others are percent-encoded.
_FRAGMENT_SAFE = "!$&'()*+,;=:@/?-._~"
