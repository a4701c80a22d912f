"""Evaluation page: score the search on a test set and look at the questions it gets wrong."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from passage_search.app.markdown import escape_markdown
from passage_search.errors import PassageSearchError
from passage_search.eval import beir
from passage_search.eval import evaluate as ev
from passage_search.eval.report import recall_figure, table_rows, worst_first, write_report

HERE = Path(__file__).resolve().parents[1]
OUT = Path(os.environ.get("PASSAGE_SEARCH_EVAL_OUT", HERE / "eval-out"))
SEED = "Bundled seed questions (no setup)"
OTHER = "Another BEIR folder…"
SHARED = [p for p in sorted((HERE.parent / "shared" / "data").glob("*")) if (p / "queries.jsonl").is_file()]

st.set_page_config(page_title="Evaluation", page_icon="📏", layout="wide")
st.title("Evaluation")

choice = st.selectbox("Test set", [SEED, *map(str, SHARED), OTHER])
folder = st.text_input("Folder with corpus.jsonl, queries.jsonl, qrels/test.tsv") if choice == OTHER else choice
col_m, col_k = st.columns([3, 1])
modes = col_m.multiselect("Modes", ev.available_modes(), default=list(ev.available_modes()))
k = int(col_k.number_input("Documents ranked (k)", min_value=10, max_value=1000, value=100, step=10))

if st.button("Run", type="primary", disabled=not (modes and folder)):
    bar = st.progress(0.0, text="Indexing the corpus (only the first run of a test set)…")

    def on_progress(mode: str, done: int, total: int) -> None:
        if done % 20 == 0 or done == total:
            bar.progress(done / total, text=f"{mode}: {done} of {total} questions")

    from passage_search.search.model import serve_one_question_at_a_time

    serve_one_question_at_a_time()
    try:
        dataset = (
            beir.seed_dataset(HERE / "corpus", HERE / "tests" / "data" / "seed_questions.jsonl")
            if choice == SEED
            else beir.load_beir(Path(folder))
        )
        result = ev.run_eval(dataset, modes=modes, k=k, cache_root=OUT / ".cache", on_progress=on_progress)
        st.session_state["eval_out"] = write_report(result, OUT / beir.slug(dataset.name))
    except PassageSearchError as exc:
        st.error(escape_markdown(str(exc)))  # the message quotes the folder as typed
        st.stop()
    bar.empty()
    st.session_state["eval"] = result

result = st.session_state.get("eval")
if result is None:
    st.caption("Choose a test set and the modes to compare, then press Run.")
    st.stop()

ds = result.dataset
st.subheader(f"{escape_markdown(ds.name)}: {len(ds.queries)} questions, {len(ds.corpus)} documents")
if ds.ignored_queries:
    st.caption(f"{ds.ignored_queries} questions without relevance judgements were left out.")
st.dataframe(table_rows(result), hide_index=True)
st.pyplot(recall_figure(result), width="content")
st.caption(f"Report, TREC runs and per-question tables: {escape_markdown(str(st.session_state['eval_out']))}")

st.subheader("Questions, worst first")
mode = st.radio("Mode", list(result.modes), horizontal=True)
queries = worst_first(result.modes[mode])
pick = st.selectbox(
    "Question",
    range(len(queries)),
    format_func=lambda i: f"{queries[i].first_relevant or 'not found'} · {queries[i].text[:100]}",
)
q = queries[pick]
st.text(q.text)
first = q.first_relevant
st.markdown(f"First relevant document at rank **{first}**." if first else f"Nothing relevant in the top {result.k}.")
for doc_id in q.relevant:
    doc = ds.corpus.get(doc_id)
    rank = q.ranking.index(doc_id) + 1 if doc_id in q.ranking else None
    with st.container(border=True):
        where = f"rank {rank}" if rank else f"not in the top {result.k}"
        st.markdown(f"**Relevant** ({where}): {escape_markdown(doc.title if doc else doc_id)}")
        st.markdown(escape_markdown(doc.text if doc else "(not in the corpus)"))
above = q.hits[: (first - 1) if first else 10]
st.markdown(f"**Ranked above it** ({len(above)})" if first else "**The top 10 instead**")
for rank, hit in enumerate(above, 1):
    with st.expander(f"{rank}. {escape_markdown(hit.passage.breadcrumb)} · score {hit.score:.3f}"):
        st.markdown(escape_markdown(hit.passage.text))
st.caption("Texts come from the test set's corpus; see its README for the source and licence.")
