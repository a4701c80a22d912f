"""The corpus as a tree of headings: for browsing, for filters, and for example searches.

A person who cannot phrase a question can still walk the headings to the passage; a staff member can
narrow a search to one document or one top-level topic.
"""

from __future__ import annotations

import re
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


# A chip must fit a phone screen: a 28-character chip is about 200 px wide, well within 375 px.
MAX_CHIP_CHARS = 28
# At most this many chips: a corpus of many documents would otherwise bury the page in them.
MAX_CHIPS = 12
# Words that tie a heading to the page's subject ("Surgery for …", "Symptoms of …"): dropped with the subject.
_SUBJECT_LINKS = frozenset({"for", "of", "about", "in", "on"})
# Words that end a shared opening ("Treatments for …", "Living with …") that may be dropped to save room.
_OPENING_LINKS = _SUBJECT_LINKS | {"after", "before", "during", "with", "to", "from", "and"}
_SMALL_WORDS = _OPENING_LINKS | {"a", "an", "the", "your", "my", "is", "are", "what", "how", "when", "or"}
_WORD_EDGE = re.compile(r"^\W+|\W+$")


def _key(word: str) -> str:
    return _WORD_EDGE.sub("", word.lower())


def _clean(heading: str) -> str:
    return " ".join(heading.split()).rstrip(".:;,")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def subject_words(title: str, headings: Sequence[str]) -> tuple[str, ...]:
    """The words naming what a document is about, repeated in its headings ("soft tissue sarcoma").

    The longest run of words that is in the title and in at least half (and at least three) of the
    headings, not starting or ending with a small word like "for" or "the". () when there is none.
    """
    keys = [tuple(_key(w) for w in h.split()) for h in headings]
    title_text = " " + " ".join(_key(w) for w in title.split()) + " "
    counts: dict[tuple[str, ...], int] = {}
    for words in keys:
        runs = {words[i:j] for i in range(len(words)) for j in range(i + 1, len(words) + 1)}
        for run in runs:
            if run[0] in _SMALL_WORDS or run[-1] in _SMALL_WORDS or not any(w.isalpha() and len(w) > 2 for w in run):
                continue
            counts[run] = counts.get(run, 0) + 1
    enough = max(3, (len(headings) + 1) // 2)
    found = [r for r, c in counts.items() if c >= enough and f" {' '.join(r)} " in title_text]
    return max(found, key=lambda r: (len(r), counts[r]), default=())


def without_subject(heading: str, subject: tuple[str, ...]) -> str:
    """``heading`` with the document's subject taken out, keeping what makes it read as a phrase.

    "Surgery for soft tissue sarcoma" -> "Surgery"; "Treatments for stage 4 soft tissue sarcoma" ->
    "Treatments for stage 4"; "Treatments for recurrent soft tissue sarcoma" -> "Treatments for recurrent
    sarcoma" (a describing word keeps the subject's last word, its noun).
    """
    words = _clean(heading).split()
    keys = [_key(w) for w in words]
    n = len(subject)
    at = next((i for i in range(len(words) - n + 1) if tuple(keys[i : i + n]) == subject), None) if n else None
    if at is None:
        return _clean(heading)
    before, after = words[:at], words[at + n :]
    tail = words[at + n - 1]
    if before and keys[at - 1] in _SUBJECT_LINKS and len(before) > 1:
        kept = before[:-1] + after  # "Surgery for <subject>" -> "Surgery"
    elif before and any(ch.isdigit() for ch in keys[at - 1]):
        kept = before + after  # "stage 4 <subject>": the number already names it
    else:
        kept = before + [tail] + after  # "recurrent <subject>" -> "recurrent sarcoma"
    return _capital(" ".join(kept).rstrip(".:;,"))


def _shared_opening(labels: Sequence[str]) -> int:
    """How many leading words all ``labels`` share, cut back to end on a linking word ("Treatments for")."""
    split = [label.split() for label in labels]
    common = 0
    while all(len(s) > common + 1 and _key(s[common]) == _key(split[0][common]) for s in split):
        common += 1
    while common and _key(split[0][common - 1]) not in _OPENING_LINKS:
        common -= 1
    return common


def _fit(label: str, limit: int) -> str:
    """``label`` cut to ``limit`` characters: first an aside in brackets or after a colon, then end words."""
    if len(label) <= limit:
        return label
    plain = re.split(r"\s*[(:–—]|\s+-\s+", label, maxsplit=1)[0].strip()
    if plain and len(plain) <= limit:
        return plain
    words = plain.split() or label.split()
    while len(words) > 1 and (len(" ".join(words)) > limit or _key(words[-1]) in _SMALL_WORDS):
        words.pop()
    fitted = " ".join(words).rstrip(".:;,")[:limit].strip()
    # Only punctuation left (a heading such as ": 1999"): its first characters, without the punctuation.
    return fitted or label.strip(" .:;,()–—-")[:limit].strip()


def chip_labels(title: str, headings: Sequence[str], limit: int = MAX_CHIP_CHARS) -> list[str]:
    """Short labels for one document's top-level headings, in their order (one per heading).

    The document's subject words are dropped ("Surgery for soft tissue sarcoma" -> "Surgery"); if a label
    is still too long, an opening it shares with other labels ("Treatments for …") is dropped from all of
    them, so that they stay alike; what is still too long loses an aside or its last words.
    """
    subject = subject_words(title, headings)
    labels = [without_subject(h, subject) for h in headings]
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(_key(label.split()[0]) if label else "", []).append(i)
    for members in groups.values():
        if len(members) < 2 or all(len(labels[i]) <= limit for i in members):
            continue
        drop = _shared_opening([labels[i] for i in members])
        if drop:
            for i in members:
                labels[i] = _capital(" ".join(labels[i].split()[drop:]))
    return [_fit(label, limit) for label in labels]


@dataclass(frozen=True)
class Example:
    """A one-click search: its label (also the words searched) and the top-level section it was made from."""

    label: str
    doc_id: str
    section: str  # the heading, as ``top_topic`` gives it


def examples(passages: Sequence[Passage], n: int = MAX_CHIPS, limit: int = MAX_CHIP_CHARS) -> list[Example]:
    """One example per top-level section with text, in document order, at most ``n`` (see ``example_searches``)."""
    titles: dict[str, str] = {}
    sections: dict[str, dict[str, None]] = {}  # doc_id -> its top-level headings, in document order
    for p in passages:
        if is_notice(p) or len(p.heading_path) < 2 or not p.text.strip():
            continue
        titles.setdefault(p.doc_id, p.heading_path[0])
        sections.setdefault(p.doc_id, {}).setdefault(top_topic(p))
    out: dict[str, Example] = {}
    for doc, headings in sections.items():
        for heading, label in zip(headings, chip_labels(titles[doc], list(headings), limit), strict=True):
            if label:
                out.setdefault(label.lower(), Example(label, doc, heading))
    return list(out.values())[:n]


def example_searches(passages: Sequence[Passage], n: int = MAX_CHIPS, limit: int = MAX_CHIP_CHARS) -> list[str]:
    """One-click searches for an empty page: one short label per top-level section, in document order.

    Made from the corpus's own headings (see ``chip_labels``), short enough for a phone; each label is the
    text searched when it is clicked. Notices (disclaimer, copyright) and a document's opening text (no
    heading of its own) are never examples; a heading with no text under it has no passage, so no example.
    Two sections that come out with the same label share one chip.
    """
    return [e.label for e in examples(passages, n, limit)]
