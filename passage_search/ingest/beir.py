"""BEIR corpus.jsonl: one document per line, its title used as the heading; a bad line never costs the rest.

A line may carry the document's address as ``url`` (an http(s) address), shown with its passages.

A line that cannot be indexed (not UTF-8, not JSON, not a document, no text, an ``_id`` already read) is
skipped and reported as a ``LineSkipped``, which the build summary lists and counts; the file's other lines
are indexed. Of two lines with the same ``_id`` (in one file or two), the first read is kept and the other
skipped, as a second link to a file already read is: evaluation judges documents by ``_id``, so two
documents cannot share one, and merging them would make one passage list of two texts.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from passage_search.errors import CorpusError
from passage_search.ingest.section import Section, document_url

# What can be wrong with a line: the start of every LineSkipped reason, counted in the build summary.
NOT_UTF8 = "not UTF-8 text"
NOT_JSON = "not valid JSON"
NOT_DOCUMENT = "not a BEIR document"
NO_TEXT = "no text"
DUPLICATE = "duplicate _id"
# Each as the build summary counts it: "3 lines skipped: 1 not valid JSON, 2 without text".
COUNTED = {
    NOT_UTF8: "not UTF-8",
    NOT_JSON: "not valid JSON",
    NOT_DOCUMENT: "not a BEIR document",
    NO_TEXT: "without text",
    DUPLICATE: "with an _id already read (the first kept)",
}

# Bytes that were not UTF-8, as the file's decoding (surrogateescape) kept them.
_UNDECODED = re.compile("[\udc80-\udcff]")


class LineSkipped(NamedTuple):
    """One line of a BEIR corpus.jsonl that was not indexed; the rest of its file was.

    A pair like every entry of ``ReadReport.skipped`` (what and why), so every consumer of that list
    reads it; its type tells the build summary to count it as a line, not a file.
    """

    name: str  # "corpus.jsonl line 3"
    reason: str  # one of the problems above, then its details in parentheses

    @classmethod
    def of(cls, file: str, line: int, problem: str, detail: str = "") -> LineSkipped:
        return cls(f"{file} line {line}", f"{problem} ({detail})" if detail else problem)

    @property
    def file(self) -> str:
        return self.name.rsplit(" line ", 1)[0]

    @property
    def problem(self) -> str:
        return self.reason.split(" (", 1)[0]


def parse_beir_jsonl(
    text: str,
    *,
    source: str,
    publisher: str = "",
    skipped: list[tuple[str, str]] | None = None,
    seen: dict[str, str] | None = None,
    name: str | None = None,
) -> list[Section]:
    """The documents of a BEIR corpus.jsonl, one section each.

    Args:
        skipped: lines that cannot be indexed are added to it as ``LineSkipped``; None: the first such
            line raises ``CorpusError`` naming it (nothing is dropped unsaid).
        seen: ``_id``s already read, from earlier files, with where (updated): a repeat is skipped.
        name: the file as the build summary names it (default: ``source``).
    """
    name = name or source
    seen = {} if seen is None else seen
    sections = []
    # "\n" only: str.splitlines() also splits at U+2028 and U+0085, which JSON strings may hold as they are.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            doc_id, title, body, url = _document(line)
        except _BadLine as bad:
            _skip(skipped, LineSkipped.of(name, lineno, *bad.args))
            continue
        if not body:
            _skip(skipped, LineSkipped.of(name, lineno, NO_TEXT, f"_id {_quoted(doc_id)}"))
            continue
        if doc_id in seen:
            first = seen[doc_id].removeprefix(f"{name} ")  # "line 2", or "other.jsonl line 2"
            _skip(skipped, LineSkipped.of(name, lineno, DUPLICATE, f"{_quoted(doc_id)}, first at {first}, kept"))
            continue
        seen[doc_id] = f"{name} line {lineno}"
        path = (title,) if title else (doc_id,)
        sections.append(Section(doc_id, title or doc_id, path, body, source, publisher, url))
    return sections


class _BadLine(Exception):
    """A line that is no document: (problem, detail)."""


def _document(line: str) -> tuple[str, str, str, str]:
    """The (_id, title, text, url) of one line; ``_BadLine`` if it is not a document."""
    bad = _UNDECODED.search(line)
    if bad:  # 0-based, as the file-level "not UTF-8 text (byte N)" counts
        raise _BadLine(NOT_UTF8, f"byte {len(line[: bad.start()].encode('utf-8', 'surrogateescape'))} of the line")
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:  # its own "line 1" would be the line's, not the file's
        raise _BadLine(NOT_JSON, f"{exc.msg.removesuffix(' at')} at column {exc.colno}") from None
    except (ValueError, RecursionError):  # e.g. a number too long to convert, arrays nested thousands deep
        raise _BadLine(NOT_JSON, "a value Python's JSON reader refuses") from None
    if not isinstance(doc, dict):
        raise _BadLine(NOT_DOCUMENT, f"a JSON {_json_type(doc)}, not an object")
    doc_id, title, body = doc.get("_id"), doc.get("title"), doc.get("text")
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int) or not str(doc_id).strip():
        raise _BadLine(NOT_DOCUMENT, "no _id" if doc_id in (None, "") else f"_id is {json.dumps(doc_id)}")
    url = doc.get("url")
    for key, value in (("title", title), ("text", body), ("url", url)):
        if value is not None and not isinstance(value, str):
            raise _BadLine(NOT_DOCUMENT, f"{key} is a JSON {_json_type(value)}, not a string")
    try:
        address = document_url(url, "url")
    except CorpusError as exc:
        raise _BadLine(NOT_DOCUMENT, str(exc).rstrip(".")) from None
    return str(doc_id), " ".join((title or "").split()), (body or "").strip(), address


def _json_type(value: object) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return kinds.get(type(value), "null")


def _quoted(doc_id: str) -> str:
    """An _id as JSON writes it: quoted, its control characters escaped (the summary goes to a terminal)."""
    return json.dumps(doc_id, ensure_ascii=False)


def _skip(skipped: list[tuple[str, str]] | None, line: LineSkipped) -> None:
    if skipped is None:
        raise CorpusError(f"{line.name}: {line.reason}; fix or remove it.")
    skipped.append(line)
