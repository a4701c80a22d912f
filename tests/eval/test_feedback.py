"""Relevance feedback: off by default, private, safe under threads and bad files, and scored by eval."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time

import pytest
from conftest import FakeEmbedder

from passage_search.app.cli import main
from passage_search.errors import FeedbackError, QueryError
from passage_search.eval import feedback
from passage_search.eval.beir import load_beir
from passage_search.eval.feedback import FeedbackStore, Judgment, export_beir, feedback_path, query_id
from passage_search.passage import Hit, Passage
from passage_search.search.searcher import Searcher

COLUMNS = {"query", "passage_id", "doc_id", "heading_path", "passage_text", "label", "index_id", "day"}


def hit(n: int = 0, *, doc: str = "doc.md", text: str | None = None) -> Hit:
    path = ("Guide", f"Section {n}")
    passage = Passage(f"p{n:03d}", doc, "Guide", path, text or f"Text of section {n}.", doc, n)
    return Hit(passage, 1.0, 1)


@pytest.fixture
def fake_model(monkeypatch):
    """Every place the CLI makes a model gets the fake one (as in test_cli.py)."""

    def make(model=None, **_kwargs):
        return FakeEmbedder(name=model or "fake-hash")

    for where in ("index.build", "search.model", "embed.factory"):
        monkeypatch.setattr(f"passage_search.{where}.make_embedder", make)


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("passage-search: ") and lines[0].endswith(".")
    return lines[0]


# ---- off by default ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   "])
def test_feedback_is_off_unless_the_env_names_a_file(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(feedback.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(feedback.ENV_VAR, value)
    assert feedback_path() is None


def test_env_names_the_database(monkeypatch, tmp_path):
    monkeypatch.setenv(feedback.ENV_VAR, str(tmp_path / "fb.db"))
    assert feedback_path() == tmp_path / "fb.db"


def test_reading_writes_nothing(tmp_path):
    store = FeedbackStore(tmp_path / "sub" / "fb.db")
    assert store.count() == 0 and store.judgments() == []
    assert list(tmp_path.iterdir()) == []


def test_feedback_commands_without_a_db_exit_1_with_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(feedback.ENV_VAR, raising=False)
    assert main(["feedback", "export", "--out", str(tmp_path / "out")]) == 1
    assert feedback.ENV_VAR in one_error_line(capsys)
    assert main(["feedback", "stats"]) == 1
    assert "off" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_db_file_is_named(tmp_path, capsys):
    assert main(["feedback", "stats", "--db", str(tmp_path / "none.db")]) == 1
    assert "none.db" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


# ---- recording ---------------------------------------------------------------------------------------------


def test_record_creates_folder_and_schema_and_a_new_judgment_replaces_the_old(tmp_path):
    store = FeedbackStore(tmp_path / "a" / "b" / "fb.db")
    store.record("  limb   sparing\nsurgery ", hit(1), True, index_id="fp1")
    store.record("limb sparing surgery", hit(1), False, index_id="fp2")  # changed their mind
    store.record("limb sparing surgery", hit(2), True)
    store.record("x" * 5000, hit(1), True)
    assert store.count() == 3
    by_pair = {(j.query, j.passage_id): j for j in store.judgments()}
    changed = by_pair["limb sparing surgery", "p001"]
    assert changed.helpful is False and changed.index_id == "fp2"
    assert changed.heading_path == ("Guide", "Section 1") and changed.breadcrumb == "Guide › Section 1"
    assert changed.text == "Text of section 1." and changed.doc_id == "doc.md"
    assert ("x" * 1000, "p001") in by_pair  # bounded like the search bounds a question


def test_an_empty_question_or_a_non_hit_is_refused(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    with pytest.raises(QueryError):
        store.record(" \n ", hit(), True)
    with pytest.raises(FeedbackError):
        store.record("q", "not a hit", True)  # type: ignore[arg-type]
    assert store.count() == 0


def test_schema_holds_exactly_the_judgment_and_no_identifying_data(tmp_path):
    db = tmp_path / "fb.db"
    FeedbackStore(db).record("q", hit(), True)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {r[1] for r in conn.execute("PRAGMA table_info(judgment)")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert tables == {"judgment"}
    assert columns == COLUMNS
    assert version == feedback.SCHEMA_VERSION


def test_only_the_date_is_stored(tmp_path):
    db = tmp_path / "fb.db"
    before = time.strftime("%Y-%m-%d", time.gmtime())
    FeedbackStore(db).record("q", hit(), True)
    after = time.strftime("%Y-%m-%d", time.gmtime())
    with sqlite3.connect(db) as conn:
        (day,) = conn.execute("SELECT day FROM judgment").fetchone()
        values = conn.execute("SELECT * FROM judgment").fetchone()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) and day in {before, after}
    assert not any(isinstance(v, str) and re.search(r"\d\d:\d\d", v) for v in values)


def test_threads_recording_at_once_lose_nothing(tmp_path):
    db = tmp_path / "fb.db"
    shared = FeedbackStore(db)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        store = shared if t % 2 else FeedbackStore(db)  # one shared store, and stores of their own
        try:
            for i in range(10):
                store.record(f"question {t}", hit(i), i % 3 != 0)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert shared.count() == 60


# ---- bad files -----------------------------------------------------------------------------------------------


def test_a_file_that_is_not_sqlite_gives_one_sentence_and_stays_untouched(tmp_path, capsys):
    db = tmp_path / "fb.db"
    junk = b"these are my notes, not a database\n" * 50
    db.write_bytes(junk)
    store = FeedbackStore(db)
    for call in (lambda: store.record("q", hit(), True), store.judgments, store.count):
        with pytest.raises(FeedbackError) as info:
            call()
        message = str(info.value)
        assert "not a SQLite database" in message and message.endswith(".") and "\n" not in message
    assert db.read_bytes() == junk
    assert main(["feedback", "stats", "--db", str(db)]) == 1
    assert "not a SQLite database" in one_error_line(capsys)


def test_a_locked_file_gives_one_sentence(monkeypatch, tmp_path):
    db = tmp_path / "fb.db"
    store = FeedbackStore(db)
    store.record("q", hit(1), True)
    monkeypatch.setattr(feedback, "BUSY_SECONDS", 0.1)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(FeedbackError, match="is locked by another program"):
            store.record("q", hit(2), True)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [j.passage_id for j in store.judgments()] == ["p001"]


def test_a_newer_schema_is_refused(tmp_path):
    db = tmp_path / "fb.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(FeedbackError, match="newer passage-search"):
        FeedbackStore(db).record("q", hit(), True)


# ---- export --------------------------------------------------------------------------------------------------


def judgment(query: str, n: int, helpful: bool, doc: str = "doc.md") -> Judgment:
    return Judgment(query, f"p{n:03d}", doc, ("Guide", f"Section {n}"), f"Text {n}.", helpful, "", "2024-01-02")


def test_export_writes_a_beir_folder_eval_can_read(tmp_path):
    rows = [
        judgment("alpha", 1, True),
        judgment("alpha", 2, False, doc="other.md"),
        judgment("beta", 2, True, doc="other.md"),
        judgment("gamma", 3, False),  # no helpful passage: not a scorable question
    ]
    out = tmp_path / "beir"
    summary = export_beir(rows, out)
    assert (summary.judgments, summary.queries, summary.skipped_queries, summary.documents) == (4, 2, 1, 3)
    corpus = [json.loads(line) for line in (out / "corpus.jsonl").read_text("utf-8").splitlines()]
    assert {d["_id"] for d in corpus} == {"p001", "p002", "p003"}
    assert {"_id": "p001", "title": "Guide › Section 1", "text": "Text 1."} in corpus
    queries = [json.loads(line) for line in (out / "queries.jsonl").read_text("utf-8").splitlines()]
    assert queries == [{"_id": query_id("alpha"), "text": "alpha"}, {"_id": query_id("beta"), "text": "beta"}]
    qrels = (out / "qrels" / "test.tsv").read_text("utf-8").splitlines()
    assert qrels[0] == "query-id\tcorpus-id\tscore"
    assert f"{query_id('alpha')}\tp002\t0" in qrels and f"{query_id('beta')}\tp002\t1" in qrels
    assert not any(query_id("gamma") in line for line in qrels)
    docs = (out / "qrels" / feedback.DOCUMENT_QRELS).read_text("utf-8").splitlines()
    assert f"{query_id('alpha')}\tdoc.md\t1" in docs and f"{query_id('alpha')}\tother.md\t0" in docs
    dataset = load_beir(out)
    assert dataset.qrels == {query_id("alpha"): {"p001": 1}, query_id("beta"): {"p002": 1}}  # 0 rows dropped
    assert len(dataset.corpus) == 3 and dataset.ignored_queries == 0
    assert export_beir(rows, out) == summary  # its own folder may be written again


def test_export_refuses_nothing_to_score_and_a_foreign_dataset(tmp_path):
    with pytest.raises(FeedbackError, match="nothing to score"):
        export_beir([judgment("gamma", 3, False)], tmp_path / "a")
    foreign = tmp_path / "b"
    foreign.mkdir()
    (foreign / "corpus.jsonl").write_text('{"_id": "d1", "text": "mine"}\n', "utf-8")
    with pytest.raises(FeedbackError, match="not a feedback export"):
        export_beir([judgment("alpha", 1, True)], foreign)
    assert (foreign / "corpus.jsonl").read_text("utf-8") == '{"_id": "d1", "text": "mine"}\n'


# ---- the round trip: search, judge, export, eval ----------------------------------------------------------


def test_judged_hits_export_and_eval_round_trip(fake_model, fake_index, monkeypatch, tmp_path, capsys):
    db = tmp_path / "feedback.db"
    monkeypatch.setenv(feedback.ENV_VAR, str(db))
    searcher = Searcher(fake_index, embedder=FakeEmbedder())
    store = FeedbackStore(feedback_path() or db)
    fingerprint = searcher.manifest.corpus_fingerprint
    helpful_for: dict[str, str] = {}
    for heading in ("Radiation therapy", "Nausea", "Appetite"):
        hits = searcher.search(heading, k=3)
        target = next(h for h in hits if h.passage.heading_path[-1] == heading)
        store.record(heading, target, True, index_id=fingerprint)
        for other in (h for h in hits if h is not target):
            store.record(heading, other, False, index_id=fingerprint)
        helpful_for[heading] = target.passage.id
    unhelpful = searcher.search("limb sparing surgery", k=2)
    for h in unhelpful:
        store.record("limb sparing surgery", h, False, index_id=fingerprint)

    assert main(["feedback", "stats"]) == 0
    stats = capsys.readouterr().out
    assert re.search(r"questions\s+4\b", stats) and re.search(r"helpful\s+3 \(", stats)

    out = tmp_path / "beir"
    assert main(["feedback", "export", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 questions" in printed and "1 without a helpful passage skipped" in printed

    report_dir = tmp_path / "eval"
    assert main(["eval", str(out), "--mode", "dense", "lexical", "-k", "10", "--out", str(report_dir), "-q"]) == 0
    table = capsys.readouterr().out
    assert "3 queries scored" in table
    report = json.loads((report_dir / "report.json").read_text("utf-8"))
    judged_passages = len({j.passage_id for j in store.judgments()})
    assert report["counts"]["queries"] == 3 and report["counts"]["documents"] == judged_passages
    for mode in ("dense", "lexical"):
        per_query = report["per_query"][mode]
        assert set(per_query) == {query_id(h) for h in helpful_for}
        for heading in helpful_for:  # the helpful passage is found first for its own heading
            assert per_query[query_id(heading)]["ndcg@10"] == pytest.approx(1.0)
            assert per_query[query_id(heading)]["first_relevant"] == 1

    # The same judgments by document id score the real index (eval ranks documents, not passages).
    doc_report = tmp_path / "eval-index"
    qrels = out / "qrels" / feedback.DOCUMENT_QRELS
    args = ["eval", str(out), "--index", str(fake_index), "--qrels", str(qrels), "--mode", "dense", "-k", "10"]
    assert main([*args, "--out", str(doc_report), "-q"]) == 0
    assert "3 queries scored" in capsys.readouterr().out
    index_report = json.loads((doc_report / "report.json").read_text("utf-8"))
    assert index_report["counts"]["relevant_not_indexed"] == 0
    assert 0.0 < index_report["metrics"]["dense"]["ndcg@10"] <= 1.0


def test_feedback_help_does_not_import_the_model_stack():
    import subprocess
    import sys

    from conftest import REPO

    code = (
        "import sys\n"
        "from passage_search.app.cli import main\n"
        "try:\n    main(['feedback', 'export', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'sentence_transformers', 'faiss', 'streamlit', 'numpy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_export_and_stats_of_a_db_on_the_command_line(tmp_path, capsys):
    db = tmp_path / "fb.db"
    store = FeedbackStore(db)
    store.record("alpha", hit(1), True)
    store.record("alpha", hit(2), False)
    assert main(["feedback", "stats", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"judgments\s+2\b", out) and "50%" in out
    assert main(["feedback", "export", "--db", str(db), "--out", str(tmp_path / "x")]) == 0
    assert load_beir(tmp_path / "x").queries == {query_id("alpha"): "alpha"}
