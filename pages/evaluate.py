"""Evaluation page: score the search on a test set and look at the questions it gets wrong.

Only the bundled seed set and the folders the operator lists in ``$PASSAGE_SEARCH_EVAL_DIRS`` can be scored:
a visitor picks one of them and never types a path, so the page reads no other folder and cannot tell
anyone which paths exist. Reports go under ``$PASSAGE_SEARCH_EVAL_OUT``, named after the chosen set.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from passage_search.app.markdown import escape_markdown
from passage_search.errors import sentence
from passage_search.eval import beir
from passage_search.eval import evaluate as ev
from passage_search.eval.report import recall_figure, table_rows, worst_first, write_report

HERE = Path(__file__).resolve().parents[1]
OUT = Path(os.environ.get("PASSAGE_SEARCH_EVAL_OUT", HERE / "eval-out"))
SEED = "Bundled seed questions (no setup)"
ALLOWED = "PASSAGE_SEARCH_EVAL_DIRS"


def allowed_folders() -> list[Path]:
    """The BEIR folders the operator allows, those with a queries.jsonl: $PASSAGE_SEARCH_EVAL_DIRS (os.pathsep
    between folders; set but empty: none), else the ones in ../shared/data beside the checkout."""
    listed = os.environ.get(ALLOWED)
    if listed is None:
        folders = sorted((HERE.parent / "shared" / "data").glob("*"))
    else:
        folders = [Path(p).expanduser() for p in listed.split(os.pathsep) if p.strip()]
    return [p for p in folders if (p / "queries.jsonl").is_file()]


def label(choice: str | Path) -> str:
    return choice if isinstance(choice, str) else choice.name  # a folder by its name: no server path is shown


st.set_page_config(page_title="Evaluation", page_icon="📏", layout="wide")
st.title("Evaluation")

allowed = allowed_folders()
choice = st.selectbox("Test set", [SEED, *allowed], format_func=label)  # options render as plain text
col_m, col_k = st.columns([3, 1])
modes = col_m.multiselect("Modes", ev.available_modes(), default=list(ev.available_modes()))
k = int(col_k.number_input("Documents ranked (k)", min_value=10, max_value=1000, value=100, step=10))

if st.button("Run", type="primary", disabled=not modes):
    if choice != SEED and choice not in allowed:  # the selectbox offers no other; a forged request gets this
        st.error("Choose one of the listed test sets.")
        st.stop()
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
            else beir.load_beir(Path(choice))
        )
        result = ev.run_eval(dataset, modes=modes, k=k, cache_root=OUT / ".cache", on_progress=on_progress)
        st.session_state["eval_out"] = beir.slug(dataset.name)
        write_report(result, OUT / st.session_state["eval_out"])
    except Exception as exc:  # ours, or the disk, FAISS or numpy: one sentence, never a traceback
        shown = sentence(exc) if choice == SEED else sentence(exc).replace(str(choice), choice.name)
        st.error(escape_markdown(shown))
        st.stop()
    bar.empty()
    st.session_state["eval"] = result

result = st.session_state.get("eval")
if result is None:
    st.caption("Choose a test set and the modes to compare, then press Run.")
    st.stop()

ds = result.dataset
# anchor=False: no link is made of the set's name.
st.subheader(f"{escape_markdown(ds.name)}: {len(ds.queries)} questions, {len(ds.corpus)} documents", anchor=False)
if ds.ignored_queries:
    st.caption(f"{ds.ignored_queries} questions without relevance judgements were left out.")
st.dataframe(table_rows(result), hide_index=True)
st.pyplot(recall_figure(result), width="content")
st.caption(
    f"Report, TREC runs and per-question tables: {escape_markdown(st.session_state['eval_out'])}/ in the "
    "evaluation output folder (`PASSAGE_SEARCH_EVAL_OUT`)."
)

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
