"""The search page: ``streamlit run search_app.py`` (the README's first command starts it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from passage_search.errors import PassageSearchError, QueryError
from passage_search.notices import Notices, corpus_notices, escape_markdown
from passage_search.searcher import MODES, Searcher, clean_query, query_notice

HERE = Path(__file__).resolve().parent
INDEX_DIR = Path(os.environ.get("PASSAGE_SEARCH_INDEX", HERE / "index"))
EXAMPLE = "what are the treatment options if the cancer has spread?"

st.set_page_config(page_title="Passage search", page_icon="🔎", layout="centered")


def current_generation(index_dir: str) -> str:
    """The generation folder index/current points at now ("" if there is none): a rebuild changes it."""
    from passage_search.index import resolve

    try:
        return str(resolve(Path(index_dir)))
    except PassageSearchError:
        return ""


# Keyed by generation, so a rebuilt index is picked up on the next question without a restart; a search
# already running keeps its own Searcher, which holds the old generation in memory. Two entries: the
# current index and, for a moment, the one it replaced.
@st.cache_resource(show_spinner="Loading the search index…", max_entries=2)
def load_searcher(index_dir: str, generation: str) -> Searcher:
    from passage_search.searcher import serve_one_question_at_a_time

    serve_one_question_at_a_time()  # several people share two cores; see the function's measurements
    searcher = Searcher(generation or index_dir)
    searcher.search("warm up")  # the first encode is slow; pay it here, not on the first question
    return searcher


@st.cache_resource(show_spinner=False, max_entries=2)
def page_notices(index_dir: str, generation: str) -> Notices:
    # Scanning every passage for the disclaimer and phone numbers on each rerun cost tens of ms at 25k.
    return corpus_notices(load_searcher(index_dir, generation).passages)


@st.cache_data(ttl=60, show_spinner=False)
def stale_reason(index_dir: str, corpus: str, generation: str) -> str | None:
    from passage_search.build import staleness

    return staleness(Path(corpus), Path(index_dir)) if corpus and Path(corpus).exists() else None


generation = current_generation(str(INDEX_DIR))
try:
    try:
        searcher = load_searcher(str(INDEX_DIR), generation)
    except PassageSearchError:
        # A build may have swapped in a new generation (and removed this one) between the two steps.
        if current_generation(str(INDEX_DIR)) == generation:
            raise
        generation = current_generation(str(INDEX_DIR))
        searcher = load_searcher(str(INDEX_DIR), generation)
except PassageSearchError as exc:
    st.title("Passage search")
    st.error(escape_markdown(str(exc)))  # the message quotes the index folder's path
    st.info("Build the index from the bundled corpus with `python build_index.py`, then reload this page.")
    st.stop()

notices = page_notices(str(INDEX_DIR), generation)
st.title(escape_markdown(notices.titles[0]) if len(notices.titles) == 1 else "Patient information search")
if notices.disclaimer:
    first = notices.disclaimer.split("\n")[0]
    phone = f"  \n**Support line: {escape_markdown(', '.join(notices.phones))}**" if notices.phones else ""
    st.info(escape_markdown(first) + phone, icon="ℹ️")

why = stale_reason(str(INDEX_DIR), searcher.manifest.corpus, generation)
if why:
    st.warning(f"The index may be out of date ({escape_markdown(why)}); rebuild it with `python build_index.py`.")

col_q, col_k = st.columns([5, 1])
query = col_q.text_input("Your question", key="q", placeholder=f"e.g. {EXAMPLE}")
k = int(col_k.selectbox("Results", [3, 5, 10], index=1, key="k"))
with st.expander("Search options"):
    mode = st.radio(
        "Ranking", MODES, index=MODES.index("hybrid"), key="mode", horizontal=True,
        help="hybrid: meaning, headings and words together (best measured); dense: meaning only; "
        "lexical: words only (BM25).",
    )

try:
    question = clean_query(query)  # what is searched: control characters dropped, white space folded
except QueryError:
    question = ""  # only white space or control characters: nothing to search, so the hint below

if question:
    started = time.perf_counter()
    try:
        hits = searcher.search(query, k=k, mode=mode)
    except PassageSearchError as exc:
        st.error(escape_markdown(str(exc)))
        st.stop()
    elapsed = (time.perf_counter() - started) * 1000
    notice = query_notice(query)
    if notice:
        st.info(notice)
    st.caption(f"{len(hits)} passages for “{escape_markdown(question[:200])}” · {elapsed:.0f} ms")
    for hit in hits:
        p = hit.passage
        with st.container(border=True):
            st.markdown(f"**{hit.rank}.** {escape_markdown(p.breadcrumb)}")
            st.markdown(escape_markdown(p.text))
            source = f"{p.publisher} — {p.source}" if p.publisher else p.source
            st.caption(f"Source: {escape_markdown(source)}")
else:
    st.caption("Type a question in your own words and press Enter.")

with st.expander("Medical disclaimer and source", expanded=False):
    st.markdown(escape_markdown(notices.disclaimer or "No disclaimer was found in this corpus."))
    for line in notices.copyright:
        st.caption(escape_markdown(line))
