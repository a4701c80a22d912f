"""Evaluation: BEIR loading, metrics against a hand-worked example, end to end, and the evaluation page."""

from __future__ import annotations

import argparse
import json
from math import log2

import pytest
from conftest import CORPUS, REPO, SEED_QUESTIONS, FakeEmbedder, live_markup

from passage_search.app import cli_eval
from passage_search.eval import beir
from passage_search.eval import evaluate as ev
from passage_search.eval.report import format_table, worst_first, write_report

TINY = REPO / "tests" / "data" / "tiny_beir"
SEED_BEIR = REPO / "tests" / "data" / "seed_beir"
PAGE = REPO / "evaluate_app.py"  # its own entry point: passage-search evaluate-page


# ---- metrics: a 3-query toy run worked out by hand ----------------------------------------------------

QRELS = {"q1": {"a": 2, "b": 1}, "q2": {"c": 1}, "q3": {"d": 1, "e": 1}}
RANKINGS = {
    "q1": ["b", "x", "a"],  # the grade-1 document first, the grade-2 one third
    "q2": ["y", "c"],
    "q3": ["d", *"fghijklmn", "e"],  # e at rank 11: outside every @10 cutoff
}


def test_metrics_match_a_hand_worked_example():
    # nDCG with linear gains (as trec_eval and BEIR): DCG = sum(rel / log2(rank + 1)).
    ndcg = {
        "q1": (1 / log2(2) + 2 / log2(4)) / (2 / log2(2) + 1 / log2(3)),
        "q2": (1 / log2(3)) / 1,
        "q3": 1 / (1 + 1 / log2(3)),
    }
    expected = {
        "q1": {
            "ndcg@10": ndcg["q1"],
            "mrr@10": 1,
            "recall@1": 0.5,
            "recall@5": 1,
            "recall@10": 1,
            "recall@100": 1,
            "hit_rate@1": 1,
        },
        "q2": {
            "ndcg@10": ndcg["q2"],
            "mrr@10": 0.5,
            "recall@1": 0,
            "recall@5": 1,
            "recall@10": 1,
            "recall@100": 1,
            "hit_rate@1": 0,
        },
        "q3": {
            "ndcg@10": ndcg["q3"],
            "mrr@10": 1,
            "recall@1": 0.5,
            "recall@5": 0.5,
            "recall@10": 0.5,
            "recall@100": 1,
            "hit_rate@1": 1,
        },
    }
    got = ev.score(QRELS, RANKINGS)
    for qid, metrics in expected.items():
        for name, value in metrics.items():
            assert got[qid][name] == pytest.approx(value, abs=1e-6), (qid, name)
    assert ndcg["q1"] == pytest.approx(0.76019, abs=1e-5)  # the arithmetic above, spelled out once


def test_recall_curve_agrees_with_recall_at_k():
    curve = ev.recall_curve(QRELS, RANKINGS, 100)
    assert len(curve) == 100
    got = ev.score(QRELS, RANKINGS, [f"recall@{k}" for k in (1, 2, 5, 10, 11, 100)])
    for k in (1, 2, 5, 10, 11, 100):
        assert curve[k - 1] == pytest.approx(sum(q[f"recall@{k}"] for q in got.values()) / 3)
    assert curve[0] == pytest.approx((0.5 + 0 + 0.5) / 3)
    assert curve[-1] == 1


def test_percentile_interpolates():
    assert ev.percentile([1, 2, 3, 4], 50) == 2.5
    assert ev.percentile([5.0], 95) == 5.0
    assert ev.percentile(list(range(101)), 95) == 95


# ---- reading test sets -------------------------------------------------------------------------------


def test_load_beir_keeps_judged_queries_and_grades():
    ds = beir.load_beir(TINY)
    assert ds.name == "tiny_beir"
    assert len(ds.corpus) == 8 and len(ds.queries) == 6
    assert ds.ignored_queries == 1 and "q7" not in ds.queries  # no judgement: ignored and counted
    assert ds.qrels["q1"] == {"flu-vaccine": 2, "flu-symptoms": 1}


def test_load_beir_overrides_and_trec_qrels(tmp_path):
    qrels = tmp_path / "q.trec"
    qrels.write_text("q4 0 asthma-inhaler 1\nq4 0 asthma-triggers 0\nq9 0 sleep-tips 1\n")
    ds = beir.load_beir(TINY, qrels=qrels)
    assert ds.qrels == {"q4": {"asthma-inhaler": 1}}  # a zero score is not a judgement of relevance
    assert ds.ignored_qrels == 1  # q9 is not in queries.jsonl
    assert ds.ignored_queries == 6


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("queries.jsonl", '{"_id": "q1", "text": "x"}\nnot json\n', "line 2"),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\tflu-vaccine\n", "line 2"),
    ],
)
def test_broken_dataset_files_are_named(tmp_path, name, content, message):
    folder = tmp_path / "set"
    (folder / "qrels").mkdir(parents=True)
    for part in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        (folder / part).write_bytes((TINY / part).read_bytes())
    (folder / name).write_text(content)
    with pytest.raises(beir.EvalError, match=message):
        beir.load_beir(folder)


def test_missing_dataset_says_what_is_expected(tmp_path):
    with pytest.raises(beir.EvalError, match="does not exist"):
        beir.load_beir(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(beir.EvalError, match="corpus.jsonl is missing"):
        beir.load_beir(tmp_path / "empty")


def test_seed_dataset_is_one_document_per_section_and_matches_the_checked_in_copy():
    ds = beir.seed_dataset(CORPUS, SEED_QUESTIONS)
    questions = [json.loads(line) for line in SEED_QUESTIONS.read_text().splitlines() if line.strip()]
    assert len(ds.queries) == len(questions) and ds.ignored_queries == 0  # every question finds its section
    for (qid, rel), question in zip(ds.qrels.items(), questions, strict=True):
        assert [ds.corpus[d].title for d in rel] == [" › ".join(question["heading_path"])], qid
    from passage_search.ingest.readers import read_corpus

    assert [d.text for d in ds.corpus.values()] == [s.text for s in read_corpus(CORPUS).sections]
    on_disk = beir.load_beir(SEED_BEIR)  # regenerate with write_beir(seed_dataset(...), ...) if this fails
    assert (dict(on_disk.corpus), dict(on_disk.queries), dict(on_disk.qrels)) == (
        dict(ds.corpus),
        dict(ds.queries),
        dict(ds.qrels),
    )


# ---- end to end with the fake embedder ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    cache = tmp_path_factory.mktemp("eval") / ".cache"
    return ev.run_eval(beir.load_beir(TINY), k=100, cache_root=cache, embedder=FakeEmbedder(max_tokens=40))


@pytest.mark.parametrize("mode", ev.available_modes())
def test_every_mode_returns_valid_document_rankings(tiny_result, mode):
    result = tiny_result.modes[mode]
    assert len(result.queries) == 6
    for q in result.queries:
        assert len(q.ranking) == len(set(q.ranking)) <= 100  # a document appears once, at its best passage
        assert set(q.ranking) <= set(tiny_result.dataset.corpus)
        scores = [h.score for h in q.hits]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= v <= 1 for v in q.metrics.values())
    assert set(result.metrics) == set(ev.METRICS)
    assert result.timing["p50"] <= result.timing["p95"]


def test_long_document_is_split_but_ranked_once(tiny_result):
    assert tiny_result.manifest.passage_count > len(tiny_result.dataset.corpus)  # back-pain is split
    dense = {q.id: q for q in tiny_result.modes["dense"].queries}
    assert dense["q5"].ranking[0] == "back-pain"


def test_write_report_writes_every_file(tiny_result, tmp_path):
    out = write_report(tiny_result, tmp_path / "out")
    modes = list(tiny_result.modes)
    names = {"report.json", "recall.png"} | {f"run.{m}.trec" for m in modes} | {f"per_query.{m}.tsv" for m in modes}
    assert names <= {p.name for p in out.iterdir()}
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["queries"] == 6 and report["counts"]["queries_ignored"] == 1
    assert set(report["metrics"]) == set(modes) and set(report["per_query"][modes[0]]) == set(
        tiny_result.dataset.queries
    )
    assert report["index"]["passages"] == tiny_result.manifest.passage_count
    run = (out / f"run.{modes[0]}.trec").read_text().splitlines()
    assert all(len(line.split()) == 6 and line.split()[1] == "Q0" for line in run)
    rows = (out / f"per_query.{modes[0]}.tsv").read_text().splitlines()
    assert len(rows) == 7 and all(len(r.split("\t")) == 5 for r in rows)
    assert (out / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_worst_first_puts_misses_and_low_ranks_first(tiny_result):
    order = [q.first_relevant or 10**9 for q in worst_first(tiny_result.modes["dense"])]
    assert order == sorted(order, reverse=True)


def test_index_is_cached_by_corpus_and_model(tmp_path):
    ds = beir.load_beir(TINY)
    first = ev.run_eval(ds, modes=["dense"], k=10, cache_root=tmp_path, embedder=FakeEmbedder())
    again = ev.run_eval(ds, modes=["dense"], k=10, cache_root=tmp_path, embedder=FakeEmbedder())
    other = ev.run_eval(ds, modes=["dense"], k=10, cache_root=tmp_path, embedder=FakeEmbedder(dimension=32))
    assert first.index.built and not again.index.built and other.index.built
    assert first.index.path == again.index.path != other.index.path
    assert "recall@100" not in first.modes["dense"].metrics  # k = 10: no cutoff beyond what was ranked


def test_unknown_mode_is_refused_before_any_work(tmp_path):
    with pytest.raises(beir.EvalError, match="Unknown mode"):
        ev.run_eval(beir.load_beir(TINY), modes=["sparse"], cache_root=tmp_path, embedder=FakeEmbedder())
    assert not any(tmp_path.iterdir())


def test_cmd_eval_prints_the_table_and_writes_the_report(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("passage_search.embed.factory.make_embedder", lambda model=None, **_: FakeEmbedder())
    parser = argparse.ArgumentParser()
    cli_eval.add_eval_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", str(TINY), "--mode", "dense", "-k", "20", "--out", str(tmp_path), "-q"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "nDCG@10" in printed and "dense" in printed and "6 queries" in printed
    assert (tmp_path / "report.json").is_file() and (tmp_path / "run.dense.trec").is_file()
    assert (
        format_table(
            ev.run_eval(
                beir.load_beir(TINY),
                modes=["dense"],
                k=20,
                cache_root=tmp_path / ".cache",
                embedder=FakeEmbedder(),
            )
        ).count("\n")
        >= 8
    )


# ---- the evaluation page, with the real model ---------------------------------------------------------


@pytest.mark.model
def test_page_runs_the_seed_set_and_shows_the_table(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    from passage_search.eval.report import HELP

    monkeypatch.setenv("PASSAGE_SEARCH_EVAL_OUT", str(tmp_path))
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    assert not at.exception
    assert at.selectbox[0].value.startswith("Bundled seed questions")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error
    table = at.table[0].value
    assert list(table["Metric"]) == list(HELP)  # every metric and time, each with its tooltip
    assert set(ev.available_modes()) <= set(table.columns)
    assert len(at.selectbox) == 2  # the test set, then the question to drill into
    assert at.radio[0].value == ev.product_mode() == "hybrid"  # the drill-down opens on the product's mode
    assert (tmp_path / "seed" / "report.json").is_file()
    at.selectbox[1].select_index(1).run()
    assert not at.exception
    questions = {json.loads(line)["question"] for line in SEED_QUESTIONS.read_text().splitlines() if line}
    assert at.text[0].value in questions


def test_page_shows_a_broken_allowed_set_as_one_sentence_without_its_path(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    name = "broken [c](evil.example) $x^2$ <img src=x onerror=alert(1)>"  # no ":": it separates the folders
    folder = tmp_path / "allowed" / name
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "T", "text": "Some text."}) + "\n")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a question"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\n")  # no score: a bad line
    monkeypatch.setenv("PASSAGE_SEARCH_EVAL_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("PASSAGE_SEARCH_EVAL_DIRS", str(folder))
    at = AppTest.from_file(str(PAGE), default_timeout=120).run()
    at.selectbox[0].select_index(1).run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    (error,) = [e.value for e in at.error]
    assert "line 2" in error and "\n" not in error
    assert str(tmp_path) not in error.replace("\\", "")  # the set by its name, never the server's path
    assert live_markup(error) == [], error
