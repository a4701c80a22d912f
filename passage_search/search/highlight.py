"""Which words of a passage answer the question, and where to cut a long passage for its preview.

A word is marked when it reaches the same index term as a word of the question (same spelling fold,
same Snowball stem: "treatments" marks "treatment", "tumour" marks "tumor"), including the clinical words
a lay question was expanded with ("chemo" marks "chemotherapy").
"""

from __future__ import annotations

from collections.abc import Collection

from passage_search.analysis import WORD, Vocabulary, analyze

# Words a question needs but an answer does not show for: marking every "have" or "can" in a passage
# would hide the marks that matter. (Index terms drop only Lucene's short stopword list.)
_UNMARKED = frozenset(
    "a about after all also am an and any are as at be been before being but by can could did do does doing "
    "for from get gets getting go going had has have having he her here him his how i if in into is it its "
    "just me more most my no not of off on or our out over she should so some than that the their them then "
    "there these they this those to too up us very was we were what when where which while who whom why will "
    "with would you your".split()
)



def marked_spans(text: str, terms: Collection[str], vocabulary: Vocabulary) -> list[tuple[int, int]]:
    """(start, end) of every word in ``text`` whose index term is one of ``terms``."""
    if not terms:
        return []
    wanted = set(terms)
    spans = []
    for match in WORD.finditer(text):
        if match.group().lower() in _UNMARKED:
            continue
        term = analyze(match.group(), vocabulary)
        if term and term[0] in wanted:
            spans.append(match.span())
    return spans


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
