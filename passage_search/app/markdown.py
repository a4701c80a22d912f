"""Corpus and question text as Markdown that renders literally, with the question's words marked.

Everything is escaped, so corpus text can never become a link, an image, HTML, LaTeX, a colour, an emoji or
an icon; the marks are the only Markdown we add: a highlight box around escaped text (``MARK_OPEN`` …
``MARK_CLOSE``), and inside it bold (``BOLD``) around letters, digits, spaces and single hyphens only.
Streamlit renders Markdown in labels too (buttons, pills, radio options, expanders, captions, info boxes):
every text from a question or the corpus goes through ``escape_markdown`` wherever it is shown.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from passage_search.analysis import Vocabulary
from passage_search.search.highlight import mark_boxes, marked_spans

# Streamlit Markdown's highlight directive around the marked words and the punctuation attached to them (its
# padding then sits next to a space, never between a word and its comma), with the words in bold so the mark
# does not rest on colour alone: ":orange-background[(**chemotherapy**),]".
MARK_OPEN, MARK_CLOSE, BOLD = ":orange-background[", "]", "**"

# Every character Markdown or Streamlit's additions act on ("&" starts an entity such as "&lt;").
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$=:^&])")

# Streamlit also rewrites text *after* parsing it, where a backslash escape no longer counts: an address
# (http://…, www.…, name@host.org) becomes a link, ":name:" an emoji, a Material icon or the Streamlit logo (an
# <img>), and "->", "<-", "--", ">=", "<=", "~=" between spaces an arrow, a dash or a sign. An invisible
# word joiner (U+2060) inside each of these keeps it plain text, as written: after the colon of "://" and of
# a ":name:" code, after every "@", between "www" and its dot, and between the two characters of each pair.
WORD_JOINER = "\u2060"
_REWRITTEN = re.compile(
    r"(?<=:)(?=//|[\w/+\-]+:)|(?<=@)|(?<=www)(?=\.)|(?<=[-<])(?=[->=])|(?<=[>~])(?==)", re.IGNORECASE
)


def escape_markdown(text: str) -> str:
    """Make ``text`` render literally in Streamlit's Markdown: no links (written or bare addresses), images,
    emphasis, HTML, LaTeX, colours, emoji, icons or typographic replacements. It reads exactly as ``text``,
    with invisible word joiners (``WORD_JOINER``) where Streamlit would otherwise rewrite it."""
    return _escape(_join(text))


def highlight_markdown(text: str, terms: Collection[str], vocabulary: Vocabulary) -> str:
    """``text`` escaped for Markdown, with the words matching ``terms`` marked (``search.highlight``)."""
    # The joiners go in first, over the whole text, so that a mark never separates the parts of a pattern
    # ("www" and ".", a colon and the word after it); they sit outside words, so the same words are marked.
    text = _join(text)
    spans = marked_spans(text, terms, vocabulary)
    out: list[str] = []
    at = 0
    for start, end in mark_boxes(text, spans):
        out.append(_escape(text[at:start]))
        inner, inside = [], [s for s in spans if start <= s[0] < end]
        cursor = start
        for word_start, word_end in inside:
            inner += [_escape(text[cursor:word_start]), BOLD, _escape(text[word_start:word_end]), BOLD]
            cursor = word_end
        inner.append(_escape(text[cursor:end]))
        out.append(MARK_OPEN + "".join(inner) + MARK_CLOSE)
        at = end
    out.append(_escape(text[at:]))
    return "".join(out)


def _join(text: str) -> str:
    return _REWRITTEN.sub(WORD_JOINER, text)


def _escape(text: str) -> str:
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    # Two trailing spaces keep the publisher's line breaks inside a paragraph.
    return escaped.replace("\n", "  \n")
