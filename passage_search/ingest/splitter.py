"""Token-aware splitting: sections longer than the model's input become overlapping passages.

Passages keep the original text verbatim: each one is a slice of its section, cut on sentence
boundaries, so a patient always sees the publisher's own words.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

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
                )
            )
            positions[section.doc_id] += 1
    return passages
