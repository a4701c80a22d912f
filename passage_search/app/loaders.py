"""What the page opens once per index generation and keeps in Streamlit's cache: the searcher, the corpus's
notices and the page's summary of it.

They live in a module, not in ``search_app.py``, so that the launcher (``app/launch.py``) can call these same
functions before the server starts: Streamlit keys a cached function by its module, name and source, so the
page's first run finds what ``warm`` put in the cache and no visitor waits for the index or the model.
"""

from __future__ import annotations

import sys
import time
from functools import cached_property
from pathlib import Path

import streamlit as st

from passage_search.app import page
from passage_search.errors import PassageSearchError
from passage_search.eval.feedback import FeedbackStore
from passage_search.index.build import staleness
from passage_search.ingest.notices import Notices, corpus_notices
from passage_search.search.searcher import Searcher


def current_generation(index_dir: str) -> str:
    """The generation folder index/current points at now ("" if there is none): a rebuild changes it."""
    from passage_search.index.manifest import resolve

    try:
        return str(resolve(Path(index_dir)))
    except PassageSearchError:
        return ""


# Keyed by generation, so a rebuilt index is picked up on the next question without a restart; a search
# already running keeps its own Searcher, which holds the old generation in memory. Two entries: the
# current index and, for a moment, the one it replaced. They share one model (serving.shared_embedder).
@st.cache_resource(show_spinner="Loading the search index…", max_entries=2)
def load_searcher(index_dir: str, generation: str) -> Searcher:
    from passage_search.app.serving import serving_searcher

    started = time.perf_counter()
    searcher = serving_searcher(generation or index_dir)
    # One line per generation opened, so an operator (and tests/app/test_page_startup.py) can see when it was.
    print(f"passage-search: opened {generation or index_dir} ({len(searcher.passages)} passages) in "
          f"{time.perf_counter() - started:.1f} s.", file=sys.stderr, flush=True)
    return searcher


@st.cache_resource(show_spinner=False, max_entries=2)
def page_notices(index_dir: str, generation: str) -> Notices:
    # Scanning every passage for the disclaimer and phone numbers took 0.9 s for 5,302 passages: once per generation.
    return corpus_notices(load_searcher(index_dir, generation).passages)


@st.cache_resource(show_spinner=False, max_entries=2)
def page_corpus(index_dir: str, generation: str) -> page.Corpus:
    return page.Corpus(load_searcher(index_dir, generation).passages)


@st.cache_resource(show_spinner=False)
def feedback_store(path: str) -> FeedbackStore:
    return FeedbackStore(path)


@st.cache_data(ttl=60, show_spinner=False)
def stale_reason(index_dir: str, corpus: str, generation: str) -> str | None:
    """Why the index may be out of date (the corpus, model or vocabulary changed since the build), or None.

    Not ``verify``: this generation was checked in full when it was loaded, and that check (0.45 s for 5,302
    passages) would land on a visitor's question once a minute.
    """
    return staleness(Path(corpus), Path(index_dir), verify=False) if corpus and Path(corpus).exists() else None


def warm(index_dir: str) -> Searcher:
    """Fill the page's cache for the generation ``index_dir`` serves now: its searcher (model warm), notices
    and summary (example questions, topic tree, filters). Raises what loading raises."""
    generation = current_generation(index_dir)
    searcher = load_searcher(index_dir, generation)
    page_notices(index_dir, generation)
    summary = page_corpus(index_dir, generation)
    for name, value in vars(page.Corpus).items():  # each is computed on first use, as the first run would
        if isinstance(value, cached_property):
            getattr(summary, name)
    return searcher
