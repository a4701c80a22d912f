"""What a page must always show about its corpus: titles, medical disclaimer, support line, copyright."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from passage_search.passage import Passage

_PHONE = re.compile(r"(?<!\d)(?:\+?1[- .])?(?:\(\d{3}\)\s?|\d{3}[- .])\d{3}[- .]\d{4}(?!\d)")
_COPYRIGHT = re.compile(r"©[^|\n]*")


# Headings of the sections a page shows about itself rather than about health.
_NOTICE_HEADING = re.compile(r"disclaimer|copyright|terms of use|privacy|cookie", re.IGNORECASE)


def is_notice(passage: Passage) -> bool:
    """A medical disclaimer, copyright or privacy section: shown on every page, never the answer."""
    return any(_NOTICE_HEADING.search(h) for h in passage.heading_path[1:])


@dataclass(frozen=True)
class Notices:
    titles: tuple[str, ...]
    disclaimer: str
    phones: tuple[str, ...]
    copyright: tuple[str, ...]


def corpus_notices(passages: Iterable[Passage]) -> Notices:
    """Collect the notices a corpus carries: the text under any "disclaimer" heading, phone numbers, ©."""
    titles: dict[str, None] = {}
    disclaimer: dict[str, None] = {}
    phones: dict[str, None] = {}
    rights: dict[str, None] = {}
    for p in passages:
        titles.setdefault(p.title)
        if is_notice(p) and any("disclaimer" in h.lower() for h in p.heading_path[1:]):
            disclaimer.setdefault(p.text)
        for match in _PHONE.findall(p.text):
            phones.setdefault(match.strip())
        for match in _COPYRIGHT.findall(p.text):
            rights.setdefault(match.strip())
    return Notices(tuple(titles), "\n\n".join(disclaimer), tuple(phones), tuple(rights))


def first_sentence(text: str) -> str:
    """The first sentence of ``text``'s first line: what a page shows at the top, the rest a click away."""
    line = text.strip().split("\n")[0]
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z0-9])", line)
    return line[: match.start()] if match else line
