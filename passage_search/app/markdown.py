"""Corpus and question text as Markdown that renders literally, with the question's words marked.

Everything is escaped, so corpus text can never become a link, an image, HTML or LaTeX; the marks are the
only Markdown we add, and they only ever wrap letters and digits.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from passage_search.analysis import Vocabulary
from passage_search.search.highlight import marked_spans

# Streamlit Markdown's highlight directive, bold too so the mark does not rest on colour alone.
MARK_OPEN, MARK_CLOSE = ":orange-background[**", "**]"

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$=:^])")


def escape_markdown(text: str) -> str:
    """Make ``text`` render literally in Markdown: no links, images, emphasis, HTML or LaTeX."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    # Two trailing spaces keep the publisher's line breaks inside a paragraph.
    return escaped.replace("\n", "  \n")


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
