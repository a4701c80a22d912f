"""The search page: ``streamlit run search_app.py`` (the README's first command starts it)."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from passage_search.app import page
from passage_search.app.markdown import escape_markdown
from passage_search.errors import PassageSearchError, QueryError, sentence
from passage_search.eval.feedback import FeedbackStore, feedback_path
from passage_search.ingest.notices import Notices, corpus_notices, first_sentence
from passage_search.search.confidence import ANSWER, NONE, RELATED
from passage_search.search.config import MODES
from passage_search.search.searcher import Searcher

HERE = Path(__file__).resolve().parent
INDEX_DIR = Path(os.environ.get("PASSAGE_SEARCH_INDEX", HERE / "index"))
RESULT_COUNTS = [3, 5, 10, 20]

st.set_page_config(page_title="Passage search", page_icon="🔎", layout="centered")


def current_generation(index_dir: str) -> str:
    """The generation folder index/current points at now ("" if there is none): a rebuild changes it."""
    from passage_search.index.manifest import resolve

    try:
        return str(resolve(Path(index_dir)))
    except PassageSearchError:
        return ""


# Keyed by generation, so a rebuilt index is picked up on the next question without a restart; a search
# already running keeps its own Searcher, which holds the old generation in memory. Two entries: the
# current index and, for a moment, the one it replaced.
@st.cache_resource(show_spinner="Loading the search index…", max_entries=2)
def load_searcher(index_dir: str, generation: str) -> Searcher:
    from passage_search.app.serving import serving_searcher

    return serving_searcher(generation or index_dir)


@st.cache_resource(show_spinner=False, max_entries=2)
def page_notices(index_dir: str, generation: str) -> Notices:
    # Scanning every passage for the disclaimer and phone numbers on each rerun cost tens of ms at 25k.
    return corpus_notices(load_searcher(index_dir, generation).passages)


@st.cache_resource(show_spinner=False, max_entries=2)
def page_corpus(index_dir: str, generation: str) -> page.Corpus:
    return page.Corpus(load_searcher(index_dir, generation).passages)


@st.cache_resource(show_spinner=False)
def feedback_store(path: str) -> FeedbackStore:
    return FeedbackStore(path)


@st.cache_data(ttl=60, show_spinner=False)
def stale_reason(index_dir: str, corpus: str, generation: str) -> str | None:
    from passage_search.index.build import staleness

    return staleness(Path(corpus), Path(index_dir)) if corpus and Path(corpus).exists() else None


def ask_example() -> None:
    st.session_state["q"] = st.session_state.pop("example", None) or ""
    st.session_state["topic"] = None


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

title = escape_markdown(notices.titles[0]) if len(notices.titles) == 1 else "Patient information search"
st.title(title, anchor=False)  # anchor=False: no link is made of corpus text
if notices.disclaimer:
    first = first_sentence(notices.disclaimer)
    phone = f"  \n**Support line: {escape_markdown(', '.join(notices.phones))}**" if notices.phones else ""
    st.info(escape_markdown(first) + phone, icon="ℹ️")

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
        horizontal=True,
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
        result = searcher.search(query, k=k, mode=mode, within=within)
    except QueryError:
        result = None  # only control characters: nothing to search, so the examples below
    except Exception as exc:  # ours, or FAISS, numpy or the disk: one sentence, never a traceback
        st.error(escape_markdown(sentence(exc)))
        st.stop()

if result is not None:
    for notice in page.notices(query, result.notices):
        st.info(escape_markdown(notice))
    count = f"{len(result)} passage{'' if len(result) == 1 else 's'} for" if result.confidence != NONE else "Searched"
    st.caption(f"{count} “{escape_markdown(result.question[:200])}” · {result.ms:.0f} ms")
    if st.session_state.get("feedback_error"):
        st.warning(f"Your feedback could not be saved: {escape_markdown(st.session_state.pop('feedback_error'))}")
    if not result.hits:
        st.info(
            "No passage matches this question"
            + (" within the chosen filters." if result.filtered else ".")
            + " Try other words, or browse the topics below."
        )
    elif result.confidence == NONE:
        st.info(
            f"**{result.label}.** These pages cover {escape_markdown(corpus.subject)}. "
            "Try saying it another way, or browse the topics below."
        )
        with st.expander("Closest passages anyway"):
            for hit in result:  # feedback here too: a helpful one marks an answer the state missed
                page.card(hit, result.terms, searcher, question=result.question, store=store, index_id=index_id)
    else:
        if result.confidence == RELATED:
            st.info(f"**{result.label}.** The closest passages are below; if they don't help, try other words.")
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
    st.header("Browse topics")
    page.topic_browser(searcher, corpus)

with st.expander("Medical disclaimer and source", expanded=False):
    st.markdown(escape_markdown(notices.disclaimer or "No disclaimer was found in this corpus."))
    for line in notices.copyright:
        st.caption(escape_markdown(line))
