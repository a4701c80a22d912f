"""The evaluation's own metrics (passage_search/eval/metrics.py) against ranx, which they replace on the page's
path, and the page's table and plot helpers (best value per row, tooltips, the plot's y range)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from conftest import REPO

from passage_search.eval import metrics
from passage_search.eval.beir import EvalError
from passage_search.eval.evaluate import METRICS
from passage_search.eval.report import HELP, LABELS, best_modes, recall_limits

# Every cutoff the reports use, and a few around them (1, below and above the ranking's length).
CHECKED = [*METRICS, "ndcg@1", "ndcg@3", "ndcg@5", "ndcg@20", "mrr@1", "mrr@5", "mrr@100", "recall@2", "recall@3",
           "recall@20", "hit_rate@3", "hit_rate@5", "hit_rate@10", "hit_rate@100"]

# Fixed runs worked to cover the cases: graded judgements (1-3) and a judged-irrelevant one (0), relevant
# documents beyond the cutoff or never ranked, unjudged documents, a ranking shorter than k, the ideal order.
QRELS = {
    "graded": {"a": 3, "b": 2, "c": 1, "z": 0},
    "late": {"m": 1},
    "never": {"gone": 2, "x": 1},
    "short": {"s1": 1, "s2": 1, "s3": 1},
    "ideal": {"i1": 3, "i2": 2, "i3": 1},
    "zero-first": {"p": 1, "q": 2},
}
RANKINGS = {
    "graded": ["z", "c", "x", "b", "y", "a"],
    "late": [*(f"n{i}" for i in range(14)), "m"],  # rank 15: outside every @10 cutoff
    "never": ["x", *(f"n{i}" for i in range(30))],
    "short": ["s2", "u"],
    "ideal": ["i1", "i2", "i3"],
    "zero-first": ["q", "p"],
}


def random_runs(n: int = 60, seed: int = 15) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    """``n`` queries over a pool of 150 documents: 1-6 judged (grades 0-3), rankings of 1-120 documents."""
    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(150)]
    qrels, rankings = {}, {}
    for q in range(n):
        judged = rng.sample(pool, rng.randint(1, 6))
        qrels[f"q{q}"] = {d: rng.choice((0, 1, 1, 2, 3)) for d in judged}
        qrels[f"q{q}"][judged[0]] = rng.randint(1, 3)  # at least one relevant, as the loader guarantees
        rankings[f"q{q}"] = rng.sample(pool, rng.randint(1, 120))
    return qrels, rankings


def ranx_scores(qrels, rankings, names) -> dict[str, dict[str, float]]:
    """ranx's per-query values (its numba kernels: slow to compile the first time, but this is a test)."""
    import warnings

    from ranx import Qrels, Run, evaluate

    run = Run({q: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} for q, docs in rankings.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's type-safety warnings from inside ranx
        evaluate(Qrels({q: dict(qrels[q]) for q in rankings}), run, list(names), return_mean=False)
    return {q: {m: float(run.scores[m][q]) for m in names} for q in rankings}


@pytest.mark.parametrize("runs", ["fixed", "random"])
def test_every_metric_agrees_with_ranx(runs):
    qrels, rankings = (QRELS, RANKINGS) if runs == "fixed" else random_runs()
    ours = metrics.score(qrels, rankings, CHECKED)
    theirs = ranx_scores(qrels, rankings, CHECKED)
    for q in rankings:
        for name in CHECKED:
            assert ours[q][name] == pytest.approx(theirs[q][name], abs=1e-9), (q, name)


def test_fixed_values_by_hand():
    got = metrics.score(QRELS, RANKINGS, ["mrr@10", "recall@5", "hit_rate@1", "ndcg@10"])
    assert got["graded"]["mrr@10"] == 1 / 2  # "z" is judged 0: not relevant
    assert got["late"] == {"mrr@10": 0.0, "recall@5": 0.0, "hit_rate@1": 0.0, "ndcg@10": 0.0}
    assert got["never"]["recall@5"] == 1 / 2
    assert got["short"]["recall@5"] == pytest.approx(1 / 3)
    assert got["ideal"]["ndcg@10"] == pytest.approx(1.0)
    assert got["zero-first"]["ndcg@10"] == pytest.approx(1.0)  # the grade-2 document first: the ideal order


def test_an_empty_ranking_scores_zero():
    assert metrics.score({"q": {"a": 1}}, {"q": []}, list(METRICS)) == {"q": dict.fromkeys(METRICS, 0.0)}


@pytest.mark.parametrize("name", ["precision@5", "ndcg", "ndcg@0", "recall@x", "mrr@-1"])
def test_an_unknown_metric_is_refused_in_one_sentence(name):
    with pytest.raises(EvalError, match=r"^Unknown metric .*k at least 1\.$"):
        metrics.score(QRELS, RANKINGS, [name])


def test_the_evaluation_compiles_nothing_and_never_imports_ranx(tmp_path):
    """The page's path (run_eval on a test set) in a fresh process with an empty numba cache: no numba
    compilation at all (ranx's took minutes on the first run) and ranx is not even imported."""
    code = f"""
import json, sys
from pathlib import Path
sys.path.insert(0, {str(REPO / "tests")!r})
from numba.core import event
from conftest import FakeEmbedder
from passage_search.eval import beir, evaluate as ev
with event.install_recorder("numba:compile") as compiled:
    result = ev.run_eval(beir.load_beir(Path({str(REPO / "tests" / "data" / "tiny_beir")!r})), k=100,
                         cache_root=Path({str(tmp_path / "cache")!r}), embedder=FakeEmbedder())
print(json.dumps({{"compiled": len(compiled.buffer), "ranx": "ranx" in sys.modules,
                   "modes": sorted(result.modes)}}))
"""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"compiled": 0, "ranx": False, "modes": ["dense", "hybrid", "lexical"]}


# ---- the page's table and plot ---------------------------------------------------------------------------------


def test_every_row_of_the_table_has_a_one_line_tooltip():
    rows = [*LABELS.values(), "query ms mean", "query ms p50", "query ms p95"]
    assert set(HELP) == set(rows)
    for text in HELP.values():
        assert "\n" not in text and '"' not in text and len(text) <= 120, text  # CSS content: no double quote


def test_best_modes_marks_the_highest_metric_and_the_lowest_time_ties_included():
    modes = ["dense", "lexical", "hybrid"]
    assert best_modes({"metric": "nDCG@10", "dense": 0.91, "lexical": 0.7, "hybrid": 0.95}, modes, 3) == {"hybrid"}
    assert best_modes({"metric": "Hit@1", "dense": 0.8934, "lexical": 0.5, "hybrid": 0.8931}, modes, 3) == {
        "dense", "hybrid"}  # equal as shown (0.893): both marked
    assert best_modes({"metric": "query ms p50", "dense": 20.0, "lexical": 1.3, "hybrid": 25.0}, modes, 1) == {
        "lexical"}
    assert best_modes({"metric": "nDCG@10", "hybrid": 0.9}, ["hybrid"], 3) == set()  # one mode: nothing to compare


def test_the_recall_plot_is_scaled_to_its_lines():
    low, high = recall_limits([(0.82, 0.9, 1.0), (0.85, 0.97, 1.0)])
    assert 0.78 <= low < 0.82 and 1.0 <= high <= 1.01
    low, high = recall_limits([(0.3, 0.6), (0.5, 0.7)])
    assert 0.25 <= low < 0.3 and 0.7 <= high <= 0.72
    assert recall_limits([(1.0, 1.0)]) == (0.99, 1.005)  # flat lines still get a visible band
    assert recall_limits([(0.0, 0.1)])[0] == 0.0
