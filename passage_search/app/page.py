"""The parts of the search page, drawn with Streamlit; ``search_app.py`` puts them together.

Every text from the corpus or the question goes through ``escape_markdown`` (or ``highlight_markdown``,
which escapes too) before Streamlit sees it, labels included: buttons, pills, expanders, captions and notices
all render Markdown. The one piece of raw HTML, ``FOCUS_SCRIPT``, is a constant written here: no data ever
reaches it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import streamlit as st

from passage_search.app.markdown import escape_markdown, highlight_markdown
from passage_search.errors import sentence
from passage_search.eval.feedback import FeedbackStore
from passage_search.ingest.notices import is_notice
from passage_search.passage import Hit, Passage
from passage_search.search.confidence import ANSWER, LABELS
from passage_search.search.highlight import preview
from passage_search.search.query import MAX_QUERY_CHARS
from passage_search.search.searcher import Searcher
from passage_search.search.topics import Topic, document_label, example_searches, top_topic, topic_tree

# Over this many choices a filter is a "contains" box: a list of thousands of options would be sent to
# the browser on every rerun and slow each search down.
MAX_LISTED_CHOICES = 300
# The topic browser lists at most this many headings at once; a larger corpus is narrowed by typing.
MAX_LISTED_TOPICS = 60

# Focus starts in the question box (Streamlit's text input has no autofocus), once per page load and only
# when nothing else has focus, so a rerun never pulls focus away from a result someone tabbed to.
# The box holds at most what the searcher reads (``max_chars``): Streamlit cuts a longer question from the
# address or from a hand-made request on the server, and rejects a longer edit in the browser. A longer
# paste is cut here instead, before the browser inserts it (a 10 MB paste took 14 s) and before Streamlit
# copies it into the address and sends it (35 s more): white space folded, as the searcher folds it, then
# cut to QUESTION_CHARS, so the page can say that the question was cut.
QUESTION_CHARS = MAX_QUERY_CHARS
FOCUS_SCRIPT = """<script>
(() => {
  const LABEL = 'input[aria-label="Your question"]';
  const focusBox = () => {
    const box = window.document.querySelector(LABEL);
    if (!box) { return false; }
    const active = window.document.activeElement;
    if (!window.__passageSearchFocused && (!active || active === window.document.body)) { box.focus(); }
    window.__passageSearchFocused = true;
    return true;
  };
  if (!focusBox()) {
    const timer = setInterval(() => { if (focusBox()) { clearInterval(timer); } }, 100);
    setTimeout(() => clearInterval(timer), 10000);
  }
  if (!window.__passageSearchBounded) {
    window.__passageSearchBounded = true;
    const LIMIT = 1000;  // QUESTION_CHARS
    const bound = (text) => text.slice(0, 8 * LIMIT).replace(/\\s+/g, ' ').trim().slice(0, LIMIT);
    const setValue = Object.getOwnPropertyDescriptor(window.HTMLInputElement.prototype, 'value').set;
    const isBox = (el) => el instanceof window.HTMLInputElement && el.matches(LABEL);
    // Capture phase on window: before the browser inserts a paste and before React reads the value for
    // Streamlit. A paste that would make the question too long is cut and put in place of the selection.
    window.addEventListener('paste', (event) => {
      const box = event.target;
      const text = event.clipboardData ? event.clipboardData.getData('text') : '';
      if (!isBox(box) || box.value.length + text.length <= LIMIT) { return; }
      event.preventDefault();
      const start = box.selectionStart ?? box.value.length;
      const end = box.selectionEnd ?? start;
      setValue.call(box, bound(box.value.slice(0, start) + text + box.value.slice(end)));
      box.dispatchEvent(new window.Event('input', { bubbles: true }));
    }, true);
    // Anything else that makes the box too long (a drop, autofill): cut before React sees it.
    window.addEventListener('input', (event) => {
      const box = event.target;
      if (isBox(box) && box.value.length > LIMIT) { setValue.call(box, bound(box.value)); }
    }, true);
  }
})();
</script>"""


def question_box() -> str:
    """The question box, bound to the address (``?q=…``) so that a search can be bookmarked or sent on.

    It holds at most QUESTION_CHARS characters, the most the searcher reads, however the question comes.
    """
    value = st.text_input(
        "Your question",
        key="q",
        bind="query-params",
        max_chars=QUESTION_CHARS,
        placeholder="Type a question in your own words, then Enter",
    )
    st.html(FOCUS_SCRIPT, unsafe_allow_javascript=True)
    return value or ""


# The searcher's own words for a question over its limit: a question that fills the box was (or may have
# been) cut to it on the way in.
CUT_NOTICE = f"Only the first {MAX_QUERY_CHARS:,} characters of your question were searched."


def notices(question: str, result_notices: Sequence[str]) -> list[str]:
    """What the page says above the results about how ``question`` was searched."""
    cut = [CUT_NOTICE] if len(question) >= QUESTION_CHARS and CUT_NOTICE not in result_notices else []
    return cut + list(result_notices)


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
    """A filter: a multiselect when the choices are few, else a "contains" box. (chosen, typed text)."""
    if len(choices) <= MAX_LISTED_CHOICES:
        return list(st.multiselect(label, choices, key=key, help=help, placeholder="All")), ""
    typed = st.text_input(f"{label} contains", key=key + "_text", help=help)
    return [], " ".join(str(typed or "").split()).lower()


def allowed_rows(groups: dict[str, list[int]], chosen: list[str], typed: str) -> set[int] | None:
    """The rows a filter lets through (None: no filter set)."""
    if chosen:
        return {r for name in chosen for r in groups.get(name, ())}
    if typed:
        return {r for name, rows in groups.items() if typed in name.lower() for r in rows}
    return None


def copy_text(passage: Passage) -> str:
    """What the copy button copies: where the passage comes from, then the passage verbatim."""
    return f"{passage.breadcrumb}\n\n{passage.text}\n\nSource: {passage.source_line}"


def details(hit: Hit) -> str:
    """The debug line of a hit: fused score, rank and raw score in each retriever, passage id (escaped)."""
    names = {"dense": "meaning (cosine)", "heading": "heading (cosine)", "lexical": "words (BM25)"}
    parts = [f"fused score {hit.score:.4f}"]
    for name, rank in sorted(hit.ranks.items()):
        raw = hit.scores.get(name)
        parts.append(f"{names.get(name, name)}: rank {rank}" + (f", {raw:.3f}" if raw is not None else ""))
    parts.append(f"passage id {hit.passage.id}")
    return escape_markdown(" · ".join(parts))


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
) -> None:
    """One result: rank and heading path, the passage with the question's words marked, its source,
    then copy, feedback (when the operator turned it on) and the details. ``best``: badge it as the answer."""
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
        st.caption(f"Source: {escape_markdown(p.source_line)}")
        left, middle, right = st.columns([1, 1, 2], vertical_alignment="center")
        with left.popover("Copy", icon=":material/content_copy:", help="The passage with its headings and source"):
            st.caption("Press the copy icon at the top right of the box.")
            st.code(copy_text(p), language=None, wrap_lines=True)
        if store is not None and question:
            key = feedback_key(question, hit, index_id)
            with middle:
                st.feedback("thumbs", key=key, on_change=_record, args=(store, key, question, hit, index_id))
        with right.expander("Details"):
            st.caption(details(hit))


def topic_browser(searcher: Searcher, corpus: Corpus) -> None:
    """The heading tree as buttons; a chosen heading shows every passage under it, verbatim."""
    chosen = st.session_state.get("topic")
    if chosen:
        topic = next((t for t in corpus.headings if t.key == chosen), None)
        if topic is not None:
            st.button("All topics", icon=":material/arrow_back:", on_click=_choose_topic, args=(None,))
            st.header(escape_markdown(topic.title), anchor=False)  # no link made of corpus text
            for n, row in enumerate(topic.all_rows(), 1):
                hit = Hit(searcher.passages[row], 0.0, n)
                card(hit, (), searcher)
            return
    headings = corpus.headings
    if len(headings) > MAX_LISTED_TOPICS:
        typed = " ".join(str(st.text_input("Find a topic", key="topic_find") or "").split()).lower()
        headings = [t for t in headings if typed and typed in t.key.lower()] if typed else []
        if not typed:
            st.caption(f"{len(corpus.headings):,} topics: type a word to list them.")
    for i, topic in enumerate(headings[:MAX_LISTED_TOPICS]):
        depth = len(topic.path) - 1
        label = ("\u2003" * depth) + escape_markdown(topic.title)  # em spaces indent the tree
        st.button(label, key=f"topic-{i}", type="tertiary", on_click=_choose_topic, args=(topic.key,))
    if len(headings) > MAX_LISTED_TOPICS:
        st.caption(f"{len(headings) - MAX_LISTED_TOPICS:,} more: type more of the topic's name.")


def _choose_topic(key: str | None) -> None:
    st.session_state["topic"] = key
