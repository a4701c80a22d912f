"""The question box: its limit, the script that keeps focus and history right, the page's style, and the
notices about the question. Only constants written here reach raw HTML: no data ever does."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from passage_search.search.query import MAX_QUERY_CHARS

# Focus starts in the question box (Streamlit's text input has no autofocus), once per page load and only
# when nothing else has focus, so a rerun never pulls focus away from a result someone tabbed to.
# The box holds at most what the searcher reads (``max_chars``): Streamlit cuts a longer question from the
# address or from a hand-made request on the server, and rejects a longer edit in the browser. A longer
# paste is cut here instead, before the browser inserts it (a 10 MB paste took 14 s) and before Streamlit
# copies it into the address and sends it (35 s more): white space folded, as the searcher folds it, then
# cut to QUESTION_CHARS, so the page can say that the question was cut.
# Back returns to the previous question: Streamlit keeps a bound widget's value in the address with
# history.replaceState, so each question replaced the last and Back left the page. A changed question gets an
# entry of its own instead (pushState); Streamlit answers Back by running the page on the address it returns
# to, and the box and results follow it. A question the server cut to the box's length is a correction of the
# address, not a new question, so it still replaces.
QUESTION_CHARS = MAX_QUERY_CHARS
FOCUS_SCRIPT = """<script>
(() => {
  const LABEL = 'input[aria-label="Your question"]';
  const LIMIT = 1000;  // QUESTION_CHARS
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
  if (!window.__passageSearchHistory) {
    window.__passageSearchHistory = true;
    const question = (url) => new window.URL(url, window.location.href).searchParams.get('q') || '';
    const replace = window.history.replaceState.bind(window.history);
    const push = window.history.pushState.bind(window.history);
    window.history.replaceState = (state, unused, url) => {
      const before = question(window.location.href);
      if (url != null && question(url) !== before && before.length <= LIMIT) { return push(state, unused, url); }
      return replace(state, unused, url);
    };
  }
  if (!window.__passageSearchBounded) {
    window.__passageSearchBounded = true;
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


# The page's own look, on top of the theme in .streamlit/config.toml (colours, heading sizes). For a phone:
# 16 px text in every box (iOS zooms into a smaller one on focus), and every button, box, link button and
# expander at least 44 px tall (the smallest comfortable touch target). Then the support-line banner (one
# line), the topic tree's indentation (its buttons' keys name their depth), and the footer's smaller print.
PAGE_STYLE = """<style>
.stApp input, .stApp textarea { font-size: 16px !important; }
.stApp button, .stApp summary, .stApp [data-testid="stLinkButton"] a { min-height: 44px; }
.stApp button { min-width: 44px; }
.stApp [data-testid="stTextInputRootElement"] { height: auto; min-height: 44px; }
.stApp .react-aria-ComboBox > div, .stApp [data-baseweb="select"] > div { min-height: 44px; }
.stApp [data-testid="stRadio"] label { min-height: 44px; align-items: center; }
.stApp [data-testid="stExpander"] summary { display: flex; align-items: center; }
.stApp a[href^="tel:"] { display: inline-flex; align-items: center; min-height: 44px; font-weight: 600; }
.st-key-banner { background: #eef6f8; border-radius: 0.5rem; padding: 0 0.75rem; }
.st-key-banner [data-testid="stMarkdownContainer"] { margin-bottom: 0; }
.st-key-banner [data-testid="stMarkdownContainer"] p {
  margin: 0; font-size: 0.875rem; line-height: 44px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis;
}
.st-key-banner a[href^="tel:"] { vertical-align: top; }
div[class*="st-key-topic-d1-"] { padding-left: 1.25rem; }
div[class*="st-key-topic-d2-"] { padding-left: 2.5rem; }
div[class*="st-key-topic-d3-"], div[class*="st-key-topic-d4-"], div[class*="st-key-topic-d5-"] {
  padding-left: 3.75rem;
}
.st-key-footer p, .st-key-footer li { font-size: 0.875rem; }
</style>"""


def style() -> None:
    """The page's own look (``PAGE_STYLE``): drawn first, so the page never shows without it."""
    st.html(PAGE_STYLE)


def question_box() -> str:
    """The question box, bound to the address (``?q=…``) so that a search can be bookmarked or sent on.

    It holds at most QUESTION_CHARS characters, the most the searcher reads, however the question comes. It is
    a search box: its × empties it (and the address) in one press.
    """
    value = st.text_input(
        "Your question",
        key="q",
        type="search",
        bind="query-params",
        max_chars=QUESTION_CHARS,
        placeholder="Ask in your own words, then Enter",
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


# ---- the corpus's notices: the support line, the disclaimer banner, the footer ------------------------------
