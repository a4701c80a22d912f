"""Which words of a passage answer the question, and where to cut a long passage for its preview.

A word is marked when it reaches the same index term as a word of the question (same spelling fold,
same Snowball stem: "treatments" marks "treatment", "tumour" marks "tumor"), including the clinical words
a lay question was expanded with ("chemo" marks "chemotherapy"), unless the term is in most passages of the
index (``common_terms``): on a page about soft tissue sarcoma, "sarcoma" is in nearly every passage and
marking it says nothing about where the answer is.

Marks are phrases, not single words: marked words separated only by spaces (or one hyphen) are one mark
("soft tissue sarcoma", "limb-sparing surgery"). A face that draws a mark as a padded box draws it over the
whole space-delimited stretch of text the marks sit in (``mark_boxes``), so the box never sits between a word
and its punctuation ("surgery ,").
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING

from passage_search.analysis import FUNCTION_WORDS, WORD, Vocabulary, analyze

if TYPE_CHECKING:
    from passage_search.index.lexical import LexicalIndex

# A term in more than this share of the passages is not marked. At one half, a term stops telling passages
# apart: its Robertson-Sparck Jones weight, log((N - df + 0.5) / (df + 0.5)), reaches zero. Measured on three
# corpora (docs/ranking.md, "Which words are marked"): it leaves out sarcoma, soft, tissue, treatment, about
# and learn on the bundled page, cancer, may and treatment on cancer.gov, information and may on MedQuAD;
# 0.4 would also drop radiation and therapy on the bundled page.
COMMON_SHARE = 0.5

# Between two marked words, what keeps them one mark: spaces, or a single hyphen ("limb-sparing").
_JOINS = re.compile(r" +|-")


def common_terms(lexical: LexicalIndex, share: float = COMMON_SHARE) -> frozenset[str]:
    """The index terms found in more than ``share`` of the passages (title and headings included, as
    BM25 indexes them); empty for an index of one passage, where there is nothing to compare."""
    passages = lexical.size
    if passages < 2:
        return frozenset()
    return frozenset(term for term, n in lexical.document_frequencies.items() if n > share * passages)


def marked_words(text: str, terms: Collection[str], vocabulary: Vocabulary) -> list[tuple[int, int]]:
    """(start, end) of every word in ``text`` whose index term is one of ``terms``."""
    if not terms:
        return []
    wanted = set(terms)
    spans = []
    for match in WORD.finditer(text):
        if match.group().lower() in FUNCTION_WORDS:
            continue
        term = analyze(match.group(), vocabulary)
        if term and term[0] in wanted:
            spans.append(match.span())
    return spans


def marked_spans(text: str, terms: Collection[str], vocabulary: Vocabulary) -> list[tuple[int, int]]:
    """(start, end) of every mark in ``text``: marked words, with the spaces or single hyphen between
    neighbouring marked words, as one mark. Each mark starts and ends with a letter or digit."""
    spans: list[tuple[int, int]] = []
    for start, end in marked_words(text, terms, vocabulary):
        if spans and _JOINS.fullmatch(text, spans[-1][1], start):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def mark_boxes(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, end) of the stretch each box covers: from the white space before a mark to the white space
    after it (so "(chemotherapy)," is one box, the brackets and comma in it), boxes separated only by spaces
    joined. Every span lies inside exactly one box; a box never holds a line break."""
    boxes: list[tuple[int, int]] = []
    for start, end in spans:
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        if boxes and (boxes[-1][1] >= start or set(text[boxes[-1][1] : start]) == {" "}):
            boxes[-1] = (boxes[-1][0], max(end, boxes[-1][1]))
        else:
            boxes.append((start, end))
    return boxes


def preview(text: str, limit: int = 600) -> tuple[str, str]:
    """(shown, rest): ``text`` cut after the last sentence end (else the last space) within ``limit``.

    ``rest`` is "" when the text is short enough to show whole; ``shown + rest == text`` always.
    """
    if len(text) <= limit * 1.25:  # cutting off a line or two saves nothing
        return text, ""
    head = text[:limit]
    cut = max(head.rfind(". "), head.rfind("? "), head.rfind("! "), head.rfind("\n"))
    if cut < limit // 3:
        cut = head.rfind(" ")
    if cut <= 0:
        cut = limit - 1
    return text[: cut + 1], text[cut + 1 :]
