"""The search page: ``streamlit run search_app.py`` (the README's first command starts it)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from passage_search.app import page
from passage_search.app.launch import index_folder
from passage_search.app.loaders import (
    current_generation,
    feedback_store,
    load_searcher,
    page_corpus,
    page_notices,
    stale_reason,
)
from passage_search.app.markdown import escape_markdown
from passage_search.errors import QueryError, sentence
from passage_search.eval.feedback import feedback_path
from passage_search.search.confidence import ANSWER, NONE, RELATED
from passage_search.search.config import MODES

INDEX_DIR = index_folder(Path(__file__))
RESULT_COUNTS = [3, 5, 10, 20]

# Until the index is loaded; then the corpus's own title names the tab (set_page_config may be called again).
st.set_page_config(page_title="Patient information search", page_icon="🔎", layout="centered")
page.style()


def ask_example() -> None:
    st.session_state["q"] = st.session_state.pop("example", None) or ""
    st.session_state["topic"] = None


# The cached loaders are in app/loaders.py: scripts/start.sh's launcher (app/launch.py) fills the same cache
# before the server answers, so no visitor waits for the index or the model.
generation = current_generation(str(INDEX_DIR))
try:
    try:
        searcher = load_searcher(str(INDEX_DIR), generation)
    except Exception:
        # A build may have swapped in a new generation (and removed this one) between the two steps.
        if current_generation(str(INDEX_DIR)) == generation:
            raise
        generation = current_generation(str(INDEX_DIR))
        searcher = load_searcher(str(INDEX_DIR), generation)
    notices = page_notices(str(INDEX_DIR), generation)
    corpus = page_corpus(str(INDEX_DIR), generation)
except Exception as exc:  # ours, or the disk, FAISS or numpy on a damaged index: one sentence, no traceback
    st.title("Passage search")
    st.error(escape_markdown(sentence(exc)))  # the message quotes the index folder's path
    st.info("Build the index from the bundled corpus with `python build_index.py`, then reload this page.")
    st.stop()

store_path = feedback_path()
store = feedback_store(str(store_path)) if store_path else None
index_id = searcher.manifest.corpus_fingerprint

# The corpus's title names the page and the browser tab; a corpus of several documents gets a general name.
title = notices.titles[0] if len(notices.titles) == 1 else "Patient information search"
st.set_page_config(page_title=title)  # the tab shows it as plain text, never Markdown
st.title(escape_markdown(title), anchor=False)  # anchor=False: no link is made of corpus text
if line := page.banner(notices):  # one line: not medical advice (the whole text is in the footer), the phone
    with st.container(key="banner"):
        st.markdown(line)

try:
    why = stale_reason(str(INDEX_DIR), searcher.manifest.corpus, generation)
except Exception as exc:  # an unreadable corpus folder must not hide an index that works
    why = sentence(exc).rstrip(".")
if why:
    st.warning(f"The index may be out of date ({escape_markdown(why)}); rebuild it with `python build_index.py`.")

# The question lives in the URL (?q=...), so a search can be bookmarked or sent to a colleague; the box holds
# at most what the searcher reads, so a pasted or linked 10 MB question never reaches the URL or the search.
query = page.question_box()

with st.expander("Filters and options"):
    k = int(st.selectbox("Results", RESULT_COUNTS, index=1, key="k", bind="query-params"))
    documents, document_text = page.pick(
        "Documents", corpus.document_names, "documents", "Search only these documents (none chosen: all)."
    )
    topics, topic_text = page.pick(
        "Topics", list(corpus.topics), "topics", "Search only under these top-level headings (none chosen: all)."
    )
    mode = st.radio(
        "Ranking",
        MODES,
        index=MODES.index("hybrid"),
        key="mode",
        bind="query-params",
        horizontal=True,
        # The address keeps the option as shown (a format_func would put its words there), so the modes keep
        # the names the CLI and the HTTP API take: ?mode=dense works in all three.
        help="hybrid: meaning, headings and words together (best measured); dense: meaning only; "
        "lexical: words only (BM25).",
    )
within = page.allowed_rows(corpus.documents, documents, document_text)
by_topic = page.allowed_rows(corpus.topics, topics, topic_text)
if by_topic is not None:
    within = by_topic if within is None else within & by_topic

result = None
if query.strip():
    try:
        result = searcher.search(query, k=k, mode=mode, within=within, exact=page.exact_search(query))
    except QueryError:
        result = None  # only control characters: nothing to search, so the examples below
    except Exception as exc:  # ours, or FAISS, numpy or the disk: one sentence, never a traceback
        st.error(escape_markdown(sentence(exc)))
        st.stop()

# "Showing results for …" with "Search instead for …" (the words as typed, ?exact=1) when words were repaired
# or added: page.correction_line.
if result is not None:
    page.correction_line(result)

if result is not None:
    for notice in page.notices(query, result.notices):
        st.info(escape_markdown(notice))
    count = f"{len(result)} passage{'' if len(result) == 1 else 's'} for" if result.confidence != NONE else "Searched"
    st.caption(f"{count} “{escape_markdown(result.question[:200])}” · {result.ms:.0f} ms")
    if st.session_state.get("feedback_error"):
        st.warning(f"Your feedback could not be saved: {escape_markdown(st.session_state.pop('feedback_error'))}")
    # Three states, each said once: "Best answer" (a badge on the first card), "Related" (a line above the
    # cards, which are shown as usual), "Nothing here answers that" (what the pages cover and the support line;
    # the closest passages one click away, never presented as answers).
    if result.confidence == NONE:
        st.info(page.nothing_here(result.label, corpus.subject, notices.phones, filtered=result.filtered))
        if result.hits:
            with st.expander("Closest passages anyway"):
                for hit in result:  # feedback here too: a helpful one marks an answer the state missed
                    page.card(hit, result.terms, searcher, question=result.question, store=store, index_id=index_id)
    else:
        if result.confidence == RELATED:
            st.info(f"**{escape_markdown(result.label)}.**")  # short: the cards must start on a phone's screen
        for hit in result:
            page.card(
                hit,
                result.terms,
                searcher,
                question=result.question,
                store=store,
                index_id=index_id,
                best=result.confidence == ANSWER and hit.rank == 1,
            )
    if result.confidence != ANSWER:
        with st.expander("Browse topics", expanded=True):
            page.topic_browser(searcher, corpus)
else:
    if corpus.examples:
        st.pills("Example searches", corpus.examples, key="example", on_change=ask_example, format_func=escape_markdown)
    st.header("Browse topics", anchor=False)  # a 16 px link icon beside it helps no one on a phone
    page.topic_browser(searcher, corpus)

# The footer: the whole disclaimer as the publisher wrote it, the support line to call, the copyright once.
st.divider()
with st.container(key="footer"):
    if notices.disclaimer:
        st.subheader("Medical disclaimer", anchor=False)
        for paragraph in page.disclaimer_paragraphs(notices):
            st.markdown(escape_markdown(paragraph))
    if notices.phones:
        st.markdown("Support line: " + page.phone_links(notices.phones))
    for line in notices.copyright:
        st.caption(escape_markdown(line))
