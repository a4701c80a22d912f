"""The evaluation page, for evaluators: score the search on a test set and look at the questions it gets wrong.

Its own entry point, apart from the patients' page (``search_app.py`` has no link to it):
``passage-search evaluate-page`` (port 8502) or ``streamlit run evaluate_app.py``.

Only the bundled seed set and the folders the operator lists in ``$PASSAGE_SEARCH_EVAL_DIRS`` can be scored:
a visitor picks one of them and never types a path, so the page reads no other folder and cannot tell
anyone which paths exist. Reports go under ``$PASSAGE_SEARCH_EVAL_OUT``, named after the chosen set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from passage_search.app.markdown import escape_markdown
from passage_search.errors import sentence
from passage_search.eval import beir
from passage_search.eval import evaluate as ev
from passage_search.eval.report import (
    HELP,
    best_modes,
    lower_is_better,
    recall_description,
    recall_figure,
    table_rows,
    worst_first,
    write_report,
)

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

HERE = Path(__file__).resolve().parent
OUT = Path(os.environ.get("PASSAGE_SEARCH_EVAL_OUT", HERE / "eval-out"))
SEED = "Bundled seed questions (no setup)"
ALLOWED = "PASSAGE_SEARCH_EVAL_DIRS"
# The table's marks: the best value of each row in bold on a tint; a dotted underline on the metric names,
# whose tooltip (pandas Styler's, drawn by st.table) says what they mean. The tooltip sits just above the name
# it explains; "fixed" lets it out of the table's scrolling box, which would cut it off.
BEST = "font-weight: 700; background-color: #d9efee"
NAMED = "text-decoration: underline dotted; cursor: help"
TOOLTIP = (
    "visibility: hidden; position: fixed; z-index: 1000; pointer-events: none;"
    " transform: translateY(calc(-100% - 6px)); background-color: #1f2a30; color: #fff; padding: 4px 8px;"
    " border-radius: 4px; font-size: 0.85rem; width: max-content; max-width: 20rem; white-space: normal;"
    " text-align: left"
)


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


def metrics_table(result: ev.EvalResult) -> Styler:
    """Rows: metrics and query times; columns: modes. Best per row marked; each metric's name has a tooltip."""
    import pandas as pd  # installed with Streamlit

    modes, cells, styles, tips = list(result.modes), [], [], []
    for row in table_rows(result):
        digits = 1 if lower_is_better(row["metric"]) else 3
        best = best_modes(row, modes, digits)
        cells.append([row["metric"], *(f"{row[m]:.{digits}f}" for m in modes)])
        styles.append([NAMED, *(BEST if m in best else "" for m in modes)])
        tips.append([HELP.get(row["metric"], ""), *("" for _ in modes)])
    frame = pd.DataFrame(cells, columns=["Metric", *modes])
    like = {"index": frame.index, "columns": frame.columns}
    return (
        frame.style.apply(lambda _: pd.DataFrame(styles, **like), axis=None)
        .set_tooltips(pd.DataFrame(tips, **like), props=TOOLTIP)
        .hide(axis="index")
    )


st.set_page_config(page_title="Evaluation · passage search", layout="wide")
st.title("Evaluation")
st.caption(
    "Scores the search on a test set of questions with known answers: each mode ranks the documents of the "
    f"set for every question. **{ev.product_mode()}** is the mode the search page uses."
)

allowed = allowed_folders()
choice = st.selectbox("Test set", [SEED, *allowed], format_func=label)  # options render as plain text
col_m, col_k = st.columns([3, 1])
modes = col_m.multiselect("Modes", ev.available_modes(), default=list(ev.available_modes()))
k = int(col_k.number_input("Documents ranked (k)", min_value=10, max_value=1000, value=100, step=10))

if st.button("Run", type="primary", disabled=not modes):
    if choice != SEED and choice not in allowed:  # the selectbox offers no other; a forged request gets this
        st.error("Choose one of the listed test sets.")
        st.stop()
    bar = st.progress(0.0, text="Starting…")

    def on_stage(what: str) -> None:
        bar.progress(0.0, text=escape_markdown(f"{what}…"))  # it may name the set: Markdown, so escaped

    def on_progress(mode: str, done: int, total: int) -> None:
        if done == total or done % max(1, total // 50) == 0:  # about 50 steps a mode, whatever the set's size
            i = modes.index(mode)
            bar.progress(
                (i * total + done) / (len(modes) * total),
                text=f"{mode}: {done} of {total} questions (mode {i + 1} of {len(modes)})",
            )

    from passage_search.search.model import serve_one_question_at_a_time

    serve_one_question_at_a_time()
    try:
        dataset = (
            beir.seed_dataset(HERE / "corpus", HERE / "tests" / "data" / "seed_questions.jsonl")
            if choice == SEED
            else beir.load_beir(Path(choice))
        )
        result = ev.run_eval(
            dataset, modes=modes, k=k, cache_root=OUT / ".cache", on_progress=on_progress, on_stage=on_stage
        )
    except Exception as exc:  # ours, or the disk, FAISS or numpy: one sentence, never a traceback
        shown = sentence(exc) if choice == SEED else sentence(exc).replace(str(choice), choice.name)
        st.error(escape_markdown(shown))
        st.stop()
    bar.empty()
    st.session_state["eval"] = result
    st.session_state["eval_out"] = None  # the report is written once the numbers are on the screen

result = st.session_state.get("eval")
if result is None:
    st.caption("Choose a test set and the modes to compare, then press Run.")
    st.stop()

ds = result.dataset
# anchor=False: no link is made of the set's name.
st.subheader(f"{escape_markdown(ds.name)}: {len(ds.queries)} questions, {len(ds.corpus)} documents", anchor=False)
if ds.ignored_queries:
    st.caption(f"{ds.ignored_queries} questions without relevance judgements were left out.")
st.table(metrics_table(result), width="content", alt="Each metric's mean over the questions, one column per mode")
st.caption(
    f"Means over the {len(ds.queries)} questions, each ranking the top {result.k} documents (a document ranks "
    "by its best passage). Higher is better, except for the times. The best of each row is in **bold** on a tint; "
    "point at a metric's name for what it means."
)
with st.expander("What the numbers mean"):
    st.markdown("\n".join(f"- **{name}**: {text}" for name, text in HELP.items()))
figure = recall_figure(result)
st.pyplot(figure, width=640, alt=recall_description(result))  # a narrower screen shrinks it to fit
if st.session_state.get("eval_out") is None:
    try:
        write_report(result, OUT / beir.slug(ds.name), figure=figure)
    except Exception as exc:  # the disk: one sentence, never a traceback
        st.error(escape_markdown(sentence(exc)))
        st.stop()
    st.session_state["eval_out"] = beir.slug(ds.name)
st.caption(
    f"Report, TREC runs and per-question tables: {escape_markdown(st.session_state['eval_out'])}/ in the "
    "evaluation output folder (PASSAGE_SEARCH_EVAL_OUT)."  # no code style: grey on grey in a caption
)

st.subheader("Questions, worst first")
shown_modes = list(result.modes)
product = ev.product_mode()
mode = st.radio(
    "Mode", shown_modes, index=shown_modes.index(product) if product in shown_modes else 0, horizontal=True
)
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
