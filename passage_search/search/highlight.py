"""Which words of a passage answer the question, and the passage as safe Markdown with them marked.

A word is marked when it reaches the same index term as a word of the question (same spelling fold,
same Snowball stem: "treatments" marks "treatment", "tumour" marks "tumor"), including the clinical words
a lay question was expanded with ("chemo" marks "chemotherapy"). Everything else is escaped, so corpus
text can never become a link, an image, HTML or LaTeX; the marks are the only Markdown we add, and they
only ever wrap letters and digits.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from passage_search.analysis import Vocabulary
from passage_search.index.lexical import analyze
from passage_search.ingest.notices import escape_markdown

_WORD = re.compile(r"[^\W_]+")
# Words a question needs but an answer does not show for: marking every "have" or "can" in a passage
# would hide the marks that matter. (Index terms drop only Lucene's short stopword list.)
_UNMARKED = frozenset(
    "a about after all also am an and any are as at be been before being but by can could did do does doing "
    "for from get gets getting go going had has have having he her here him his how i if in into is it its "
    "just me more most my no not of off on or our out over she should so some than that the their them then "
    "there these they this those to too up us very was we were what when where which while who whom why will "
    "with would you your".split()
)
# Streamlit Markdown's highlight directive, bold too so the mark does not rest on colour alone.
MARK_OPEN, MARK_CLOSE = ":orange-background[**", "**]"


def marked_spans(text: str, terms: Collection[str], vocabulary: Vocabulary) -> list[tuple[int, int]]:
    """(start, end) of every word in ``text`` whose index term is one of ``terms``."""
    if not terms:
        return []
    wanted = set(terms)
    spans = []
    for match in _WORD.finditer(text):
        if match.group().lower() in _UNMARKED:
            continue
        term = analyze(match.group(), vocabulary)
        if term and term[0] in wanted:
            spans.append(match.span())
    return spans


def highlight_markdown(text: str, terms: Collection[str], vocabulary: Vocabulary) -> str:
    """``text`` escaped for Markdown, with the words matching ``terms`` marked."""
    out: list[str] = []
    at = 0
    for start, end in marked_spans(text, terms, vocabulary):
        out.append(escape_markdown(text[at:start]))
        out.append(MARK_OPEN + text[start:end] + MARK_CLOSE)
        at = end
    out.append(escape_markdown(text[at:]))
    return "".join(out)


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
