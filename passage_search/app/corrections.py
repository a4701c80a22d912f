"""Showing results for …: what was searched when the question was repaired or expanded, and the one click
that searches the words as typed (``?exact=1``, so a shared link reproduces it)."""

from __future__ import annotations

import streamlit as st

from passage_search.app.markdown import escape_markdown
from passage_search.search.result import SearchResult

EXACT_PARAM = "exact"
_EXACT_FOR = "exact-question"


def exact_search(question: str) -> bool:
    """Whether to search ``question`` as typed (``search(..., exact=True)``): the address says ``exact=1``
    and the question is the one it was set for (or the page was opened with it); otherwise the flag is dropped."""
    asked = " ".join(question.split())
    if st.query_params.get(EXACT_PARAM) != "1":
        st.session_state.pop(_EXACT_FOR, None)
        return False
    if st.session_state.setdefault(_EXACT_FOR, asked) != asked:
        del st.query_params[EXACT_PARAM]
        st.session_state.pop(_EXACT_FOR, None)
        return False
    return True


def _search_exactly(question: str) -> None:
    st.query_params[EXACT_PARAM] = "1"
    st.session_state[_EXACT_FOR] = question


def _shortened(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def correction_line(result: SearchResult) -> None:
    """"Showing results for …" (the repaired words in bold italics, the clinical words added named) and a
    one-click "Search instead for …" that searches the words as typed, when the search changed the question
    ("Search only for …" when words were only added, so that the button does not repeat the line above it)."""
    if result.exact:
        st.caption("Searched exactly as typed.")
        return
    if not result.rewritten:
        return
    words = "".join(f"***{escape_markdown(part)}***" if fixed else escape_markdown(part)
                    for part, fixed in result.question_parts())
    also = escape_markdown(f", also searching for {result.also_searched}") if result.understood else ""
    st.markdown(f"Showing results for {words}{also}")
    st.button(
        result.instead_for(escape_markdown(_shortened(result.question))),
        key="search-as-typed",
        icon=":material/undo:",
        on_click=_search_exactly,
        args=(result.question,),
        help="Search the words exactly as typed: no spelling correction, no added medical words.",
    )
