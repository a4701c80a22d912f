"""The parts of the search page, drawn with Streamlit; ``search_app.py`` puts them together.

Every text from the corpus or the question goes through ``escape_markdown`` (or ``highlight_markdown``,
which escapes too) before Streamlit sees it, labels included: buttons, pills, expanders, captions and notices
all render Markdown. The only raw HTML, ``FOCUS_SCRIPT`` and ``PAGE_STYLE``, are constants written here: no
data ever reaches them. The Copy button (``copy_button.py``) gets its text as JSON data, never as HTML.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

import streamlit as st

from passage_search.app.copy_button import copy_button
from passage_search.app.corrections import correction_line as correction_line
from passage_search.app.corrections import exact_search as exact_search
from passage_search.app.markdown import escape_markdown, highlight_markdown
from passage_search.app.notice_text import banner as banner
from passage_search.app.notice_text import disclaimer_paragraphs as disclaimer_paragraphs
from passage_search.app.notice_text import nothing_here as nothing_here
from passage_search.app.notice_text import phone_links as phone_links
from passage_search.app.notice_text import tel_href as tel_href
from passage_search.app.question_box import CUT_NOTICE as CUT_NOTICE
from passage_search.app.question_box import FOCUS_SCRIPT as FOCUS_SCRIPT
from passage_search.app.question_box import QUESTION_CHARS as QUESTION_CHARS
from passage_search.app.question_box import notices as notices
from passage_search.app.question_box import question_box as question_box
from passage_search.app.question_box import style as style
from passage_search.errors import sentence
from passage_search.eval.feedback import FeedbackStore
from passage_search.ingest.notices import is_notice
from passage_search.passage import Hit, Passage
from passage_search.search.confidence import ANSWER, LABELS
from passage_search.search.highlight import preview
from passage_search.search.searcher import Searcher
from passage_search.search.topics import Topic, document_label, example_searches, top_topic, topic_tree

# Over this many choices a filter is a "contains" box: a list of thousands of options would be sent to
# the browser on every rerun and slow each search down.
MAX_LISTED_CHOICES = 300
# The topic browser lists at most this many headings at once; a larger corpus is narrowed by typing.
MAX_LISTED_TOPICS = 60

@dataclass
class Corpus:
    """What the page needs to know about the passages, computed once per index generation."""

    passages: Sequence[Passage]

    @cached_property
    def tree(self) -> list[Topic]:
        return topic_tree(self.passages)

    @cached_property
    def documents(self) -> dict[str, list[int]]:
        return _group(self.passages, document_label)

    @cached_property
    def document_names(self) -> list[str]:
        return sorted(self.documents)

    @cached_property
    def subject(self) -> str:
        """What the corpus covers, in words: its document titles (the first three, then how many more)."""
        names = sorted({p.title for p in self.passages if p.title and not is_notice(p)})
        if not names:
            return "the topics listed below"
        shown = ", ".join(f"“{n}”" for n in names[:3])
        return shown + (f" and {len(names) - 3} more pages" if len(names) > 3 else "")

    @cached_property
    def examples(self) -> list[str]:
        return example_searches(self.passages)

    @cached_property
    def topics(self) -> dict[str, list[int]]:
        return _group(self.passages, top_topic, skip_notices=True)

    @cached_property
    def headings(self) -> list[Topic]:
        """Every heading of the tree, in document order (depth first)."""
        out: list[Topic] = []

        def walk(topic: Topic) -> None:
            out.append(topic)
            for child in topic.children:
                walk(child)

        for root in self.tree:
            walk(root)
        return out


def _group(
    passages: Sequence[Passage], key: Callable[[Passage], str], *, skip_notices: bool = False
) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for row, p in enumerate(passages):
        if skip_notices and is_notice(p):
            continue
        groups.setdefault(key(p), []).append(row)
    return groups


def pick(label: str, choices: Sequence[str], key: str, help: str) -> tuple[list[str], str]:
    """A filter: a multiselect when the choices are few, else a "contains" box. (chosen, typed text).

    Either is kept in the address (``?documents=…``, ``?topics_text=…``), so a filtered search can be sent on.
    """
    if len(choices) <= MAX_LISTED_CHOICES:
        chosen = st.multiselect(label, choices, key=key, help=help, placeholder="All", bind="query-params")
        return list(chosen), ""
    typed = st.text_input(f"{label} contains", key=key + "_text", help=help, bind="query-params")
    return [], " ".join(str(typed or "").split()).lower()


def allowed_rows(groups: dict[str, list[int]], chosen: list[str], typed: str) -> set[int] | None:
    """The rows a filter lets through (None: no filter set)."""
    if chosen:
        return {r for name in chosen for r in groups.get(name, ())}
    if typed:
        return {r for name, rows in groups.items() if typed in name.lower() for r in rows}
    return None


def safe_url(url: str) -> str:
    """``url`` if it is a web address (http or https) that can go in a link as it is, else "".

    It comes from the corpus (a sidecar's ``url``, a heading's anchor): anything else (``javascript:``, a file
    path, a broken address) is never made a link.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        return ""
    return url


def copy_text(passage: Passage) -> str:
    """What the Copy button copies: where the passage sits (its headings), the passage verbatim, and its source
    with the address of the section when the corpus gives one, ready to paste into a note or an email."""
    url = safe_url(passage.url)
    source = f"{passage.publisher} — {url}" if url and passage.publisher else url or passage.citation
    return f"{passage.breadcrumb}\n\n{passage.text}\n\nSource: {source}"


# How each retriever found a passage, in words a support-line operator reads at a glance.
_FOUND_BY = {"dense": "meaning", "heading": "headings", "lexical": "words"}


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, …, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _and(words: Sequence[str]) -> str:
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def details(hit: Hit) -> str:
    """How a hit was found, in plain words, then its passage id (escaped): "Found by meaning and by words;
    ranked 1st by meaning, 3rd by words · passage id 0a1b…". The scores stay with the CLI and the API."""
    found = sorted(hit.ranks.items(), key=lambda item: (list(_FOUND_BY).index(item[0]) if item[0] in _FOUND_BY
                                                         else len(_FOUND_BY), item[0]))
    if found:
        names = [_FOUND_BY.get(name, name) for name, _ in found]
        line = "Found " + _and([f"by {n}" for n in names])
        line += "; ranked " + ", ".join(f"{ordinal(rank)} by {n}" for n, (_, rank) in zip(names, found, strict=True))
    else:
        line = "Listed under its heading"
    return escape_markdown(f"{line} · passage id {hit.passage.id}")


def feedback_key(question: str, hit: Hit, index_id: str) -> str:
    digest = hashlib.sha256(f"{index_id}\x1f{question}".encode()).hexdigest()[:12]
    return f"fb-{digest}-{hit.passage.id}"


def _record(store: FeedbackStore, key: str, question: str, hit: Hit, index_id: str) -> None:
    value = st.session_state.get(key)
    given = key + "-stored"  # the judgment this session stored for the pair, so that it alone is taken back
    try:
        if value is None:  # the thumb was clicked off: the judgment is taken back
            if given in st.session_state:
                store.withdraw(question, hit, helpful=st.session_state.pop(given))
            return
        store.record(question, hit, helpful=value == 1, index_id=index_id)
        st.session_state[given] = value == 1
    except Exception as exc:  # noqa: BLE001 - a feedback failure must never break the search
        st.session_state["feedback_error"] = sentence(exc)


def card(
    hit: Hit,
    terms: Sequence[str],
    searcher: Searcher,
    *,
    question: str = "",
    store: FeedbackStore | None = None,
    index_id: str = "",
    best: bool = False,
    where: str = "hit",
) -> None:
    """One result: rank and heading path, the passage with the question's words marked, its source, then a row
    of Copy, "Read the full section" (when the corpus gives the section's address), feedback (when the operator
    turned it on) and Details. ``best``: badge it as the answer. ``where``: which list the card is in, so the
    same passage can be in two (results and a topic) at once."""
    p = hit.passage
    with st.container(border=True):
        st.markdown(f"**{hit.rank}.** {escape_markdown(p.breadcrumb)}")
        if best:
            st.badge(LABELS[ANSWER], icon=":material/star:", color="green")
        shown, rest = preview(p.text)
        st.markdown(highlight_markdown(shown, terms, searcher.vocabulary))
        if rest:
            with st.expander("Show more"):
                st.markdown(highlight_markdown(rest, terms, searcher.vocabulary))
        st.caption(f"Source: {escape_markdown(p.citation)}")
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            copy_button(copy_text(p), key=f"copy-{where}-{hit.rank}-{p.id}", label=f"Copy passage {hit.rank}")
            url = safe_url(p.url)
            if url:
                st.link_button(READ_MORE, url, icon=":material/open_in_new:")
            if store is not None and question:
                key = feedback_key(question, hit, index_id)
                st.feedback("thumbs", key=key, on_change=_record, args=(store, key, question, hit, index_id))
            if hit.ranks:
                with st.popover("Details", type="tertiary", help="How this passage was found"):
                    st.caption(details(hit))


READ_MORE = "Read the full section"


def topic_browser(searcher: Searcher, corpus: Corpus) -> None:
    """The heading tree as buttons (a chevron on each, sub-headings indented); a chosen heading shows every
    passage under it, verbatim."""
    chosen = st.session_state.get("topic")
    if chosen:
        topic = next((t for t in corpus.headings if t.key == chosen), None)
        if topic is not None:
            st.button("All topics", icon=":material/arrow_back:", on_click=_choose_topic, args=(None,))
            st.header(escape_markdown(topic.title), anchor=False)  # no link made of corpus text
            for n, row in enumerate(topic.all_rows(), 1):
                hit = Hit(searcher.passages[row], 0.0, n)
                card(hit, (), searcher, where="topic")
            return
    headings = corpus.headings
    if len(headings) > MAX_LISTED_TOPICS:
        typed = " ".join(str(st.text_input("Find a topic", key="topic_find") or "").split()).lower()
        headings = [t for t in headings if typed and typed in t.key.lower()] if typed else []
        if not typed:
            st.caption(f"{len(corpus.headings):,} topics: type a word to list them.")
    for i, topic in enumerate(headings[:MAX_LISTED_TOPICS]):
        depth = len(topic.path) - 1  # PAGE_STYLE indents a button by the depth its key names
        st.button(
            escape_markdown(topic.title),
            key=f"topic-d{depth}-{i}",
            type="tertiary",
            icon=":material/chevron_right:",
            on_click=_choose_topic,
            args=(topic.key,),
        )
    if len(headings) > MAX_LISTED_TOPICS:
        st.caption(f"{len(headings) - MAX_LISTED_TOPICS:,} more: type more of the topic's name.")


def _choose_topic(key: str | None) -> None:
    st.session_state["topic"] = key
