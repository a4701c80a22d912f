"""Token-aware splitting: sections longer than the model's input become overlapping passages.

Passages keep the original text verbatim: each one is a slice of its section, cut on sentence
boundaries, so a patient always sees the publisher's own words.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from passage_search import __version__
from passage_search.ingest.readers import Section
from passage_search.passage import Passage, embedding_text, passage_id

# A sentence ends at . ! ? (optionally closed by quotes or brackets) before white space, or at a line break.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(\s+)|\n+")
MIN_BUDGET = 32


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences in ``text``, white space excluded."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.start(1) if match.group(1) else match.start()
        _add_span(text, start, end, spans)
        start = match.end()
    _add_span(text, start, len(text), spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    piece = text[start:end]
    if piece.strip():
        spans.append((start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())))


def _word_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]


def split_text(
    text: str,
    count_tokens: Callable[[str], int],
    budget: int,
    overlap: int = 1,
    *,
    count_many: Callable[[list[str]], list[int]] | None = None,
    total: int | None = None,
) -> list[str]:
    """Cut ``text`` into pieces of at most ``budget`` tokens on sentence boundaries.

    Consecutive pieces share ``overlap`` sentences so an answer that straddles a cut is still found whole
    in one of them. A single sentence longer than the budget is cut between words.

    Args:
        count_many: counts a list of texts in one call (the Rust tokenizer batches them), used for the
            sentences of a long section instead of one call per sentence.
        total: the text's token count, if the caller already has it.
    """
    if (count_tokens(text) if total is None else total) <= budget:
        return [text]
    spans = sentence_spans(text)
    pieces = [text[s:e] for s, e in spans]
    costs = count_many(pieces) if count_many is not None else [count_tokens(p) for p in pieces]
    units: list[tuple[int, int]] = []
    unit_costs: list[int] = []
    for (start, end), cost in zip(spans, costs, strict=True):
        if cost <= budget:
            units.append((start, end))
            unit_costs.append(cost)
        else:
            words = _word_spans(text, start, end)
            word_costs = [count_tokens(text[s:e]) for s, e in words]
            for span in _pack(words, word_costs, budget, 0):
                units.append(span)
                unit_costs.append(count_tokens(text[span[0] : span[1]]))
    return [text[s:e] for s, e in _pack(units, unit_costs, budget, overlap)]


def _pack(units: list[tuple[int, int]], costs: list[int], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Greedily group consecutive units (with their token counts) into spans within ``budget`` tokens."""
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, used = i, 0
        while j < len(units) and (j == i or used + costs[j] <= budget):
            used += costs[j]
            j += 1
        pieces.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        # Step back by the overlap, but always move forward by at least one unit.
        i = max(j - overlap, i + 1)
    return pieces


def make_passages(
    sections: Iterable[Section],
    *,
    count_tokens: Callable[[str], int],
    max_tokens: int,
    with_headings: bool = True,
    prefix: str = "",
    overlap: int = 1,
    count_many: Callable[[list[str]], list[int]] | None = None,
) -> list[Passage]:
    """Turn sections into passages that each fit in ``max_tokens`` word pieces once embedded.

    Args:
        count_many: counts many texts in one call (the Rust tokenizer's batch encoder, which can use
            every core); without it, one call per section and sentence.
    """
    sections = list(sections)
    heads = [
        embedding_text(
            Passage("", s.doc_id, s.title, s.heading_path, "", "", 0), with_headings=with_headings, prefix=prefix
        )
        for s in sections
    ]
    if count_many is not None:
        head_costs = count_many(heads)
        text_costs: list[int | None] = list(count_many([s.text for s in sections]))
    else:
        head_costs = [count_tokens(h) for h in heads]
        text_costs = [None] * len(sections)
    passages: list[Passage] = []
    positions: Counter[str] = Counter()
    seen: Counter[tuple[str, tuple[str, ...], str]] = Counter()
    for section, head_cost, text_cost in zip(sections, head_costs, text_costs, strict=True):
        # The model adds [CLS] and [SEP]; the heading path and prefix share the same window.
        budget = max(MIN_BUDGET, max_tokens - 2 - head_cost)
        pieces = split_text(section.text, count_tokens, budget, overlap, count_many=count_many, total=text_cost)
        for piece in pieces:
            key = (section.doc_id, section.heading_path, piece)
            pid = passage_id(section.doc_id, section.heading_path, piece, seen[key])
            seen[key] += 1
            passages.append(
                Passage(
                    id=pid,
                    doc_id=section.doc_id,
                    title=section.title,
                    heading_path=section.heading_path,
                    text=piece,
                    source=section.source,
                    position=positions[section.doc_id],
                    publisher=section.publisher,
                    url=section.url,
                )
            )
            positions[section.doc_id] += 1
    return passages


# ---- splitting a corpus again: unchanged documents keep their passages --------------------------------

# Part of every document key: raise it when make_passages cuts the same sections differently, so no
# index keeps passages an older splitter made.
SPLITTER_VERSION = 1


@dataclass(frozen=True)
class DocumentSplit:
    """Where one document's passages sit in an index (rows ``start:stop``), and the key they were split for."""

    doc_id: str
    key: str
    start: int
    stop: int


@dataclass(frozen=True)
class Split:
    """Passages in the order a split of every section gives; ``resplit`` documents went through make_passages."""

    passages: list[Passage]
    documents: list[DocumentSplit]
    resplit: int


# Given a document's id and key: its passages from an earlier split, or None.
Reuse = Callable[[str, str], Sequence[Passage] | None]


def document_key(sections: Sequence[Section], settings: dict[str, object]) -> str:
    """A hash of one document's sections (in order) and of everything its split depends on."""
    digest = hashlib.sha256(json.dumps({**settings, "splitter": SPLITTER_VERSION, "package": __version__},
                                       sort_keys=True).encode())
    for s in sections:
        fields = [s.doc_id, s.title, list(s.heading_path), s.text, s.source, s.publisher]
        if s.url:  # only when set, so the keys of documents without an address are those earlier builds wrote
            fields.append(s.url)
        digest.update(b"\n" + json.dumps(fields, ensure_ascii=False).encode())
    return digest.hexdigest()[:32]


def split_documents(
    sections: Sequence[Section],
    *,
    reuse: Reuse | None,
    model: str,
    count_tokens: Callable[[str], int],
    max_tokens: int,
    with_headings: bool = True,
    prefix: str = "",
    overlap: int = 1,
    count_many: Callable[[list[str]], list[int]] | None = None,
) -> Split:
    """``make_passages`` over ``sections``, taking each unchanged document's passages from ``reuse`` instead.

    A document's passages depend only on its own sections (positions and ids count per document), so the
    result is exactly what make_passages gives for all of them, in the same order. A document whose
    sections are not consecutive is never reused, and then neither is any other (its passages interleave).

    Args:
        reuse: a document's earlier passages by its id and key (see document_key); None reuses nothing.
        model: the fingerprint of the model whose tokenizer ``count_tokens`` is, part of every key.
    """
    settings: dict[str, object] = {
        "with_headings": with_headings, "prefix": prefix, "overlap": overlap, "max_tokens": max_tokens, "model": model,
    }
    runs: list[tuple[str, list[Section]]] = []
    for section in sections:
        if runs and runs[-1][0] == section.doc_id:
            runs[-1][1].append(section)
        else:
            runs.append((section.doc_id, [section]))
    whole = len({doc_id for doc_id, _ in runs}) == len(runs)
    keys = [document_key(secs, settings) for _, secs in runs]
    kept: dict[str, Sequence[Passage]] = {}
    for (doc_id, secs), key in zip(runs, keys, strict=True):
        earlier = reuse(doc_id, key) if reuse is not None and whole else None
        if earlier is not None and _fits(earlier, secs):
            kept[doc_id] = earlier
    fresh = make_passages(
        [s for doc_id, secs in runs if doc_id not in kept for s in secs], count_tokens=count_tokens,
        max_tokens=max_tokens, with_headings=with_headings, prefix=prefix, overlap=overlap, count_many=count_many,
    )
    if not kept:
        passages = fresh
    else:
        made: dict[str, list[Passage]] = {}
        for p in fresh:
            made.setdefault(p.doc_id, []).append(p)
        passages = [p for doc_id, _ in runs for p in (kept.get(doc_id) or made.get(doc_id, []))]
    rows: dict[str, list[int]] = {}
    for row, p in enumerate(passages):
        rows.setdefault(p.doc_id, []).append(row)
    documents = [
        DocumentSplit(doc_id, key, rows[doc_id][0], rows[doc_id][-1] + 1)
        for (doc_id, _), key in zip(runs, keys, strict=True)
        if doc_id in rows and rows[doc_id][-1] + 1 - rows[doc_id][0] == len(rows[doc_id])
    ]
    return Split(passages, documents, len({doc_id for doc_id, _ in runs} - set(kept)))


def _fits(passages: Sequence[Passage], sections: Sequence[Section]) -> bool:
    """Whether ``passages`` can be this document's: its ids, places, titles and addresses, text cut from its
    sections."""
    texts: dict[tuple[tuple[str, ...], str, str, str, str], list[str]] = {}
    for s in sections:
        texts.setdefault((s.heading_path, s.title, s.source, s.publisher, s.url), []).append(s.text)
    doc_id = sections[0].doc_id
    seen: Counter[tuple[tuple[str, ...], str]] = Counter()
    for position, p in enumerate(passages):
        under = texts.get((p.heading_path, p.title, p.source, p.publisher, p.url), [])
        if p.doc_id != doc_id or p.position != position or not any(p.text in text for text in under):
            return False
        if p.id != passage_id(doc_id, p.heading_path, p.text, seen[p.heading_path, p.text]):
            return False
        seen[p.heading_path, p.text] += 1
    return bool(passages)
