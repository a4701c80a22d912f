"""The reranker stage with a deterministic fake: it reorders the fused top N only, puts its score in each hit,
is on or off on every face, and a reranker that cannot load is refused in one sentence."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder
from fastapi.testclient import TestClient

from passage_search.app import http
from passage_search.app.cli import main
from passage_search.errors import ModelError, QueryError
from passage_search.eval import beir
from passage_search.eval import evaluate as ev
from passage_search.rerank import base
from passage_search.rerank.base import reranker_folder
from passage_search.rerank.factory import load_reranker
from passage_search.search.config import SearchConfig
from passage_search.search.searcher import Searcher

TINY_BEIR = Path(__file__).resolve().parents[1] / "data" / "tiny_beir"
QUESTION = "radiation therapy before surgery"


class FakeReranker:
    """Scores a passage by a hash of its text: an order unrelated to fusion, the same in every process."""

    name = "fake-reranker"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return np.array([int(hashlib.sha256(t.encode()).hexdigest()[:6], 16) / 1e6 for t in texts], dtype=np.float32)


@pytest.fixture
def fake() -> FakeReranker:
    return FakeReranker()


@pytest.fixture
def searcher(fake_index, fake) -> Searcher:
    return Searcher(fake_index, embedder=FakeEmbedder(), reranker=fake, config=SearchConfig(rerank_depth=3))


def one_sentence(exc: BaseException) -> str:
    text = str(exc)
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text
    return text


def test_off_by_default_and_without_a_rerank_score(searcher, fake):
    hits = searcher.search(QUESTION, k=6)
    assert all("rerank" not in h.scores for h in hits) and fake.calls == []
    assert SearchConfig().rerank is False


def test_only_the_fused_top_n_are_reordered_and_scored(searcher, fake):
    plain = searcher.search(QUESTION, k=6, rerank=False)
    reranked = searcher.search(QUESTION, k=6, rerank=True)
    assert fake.calls == [3]  # one batch of the top 3
    top = [h.passage.id for h in reranked[:3]]
    assert sorted(top) == sorted(h.passage.id for h in plain[:3])
    assert [h.passage.id for h in reranked[3:]] == [h.passage.id for h in plain[3:]]
    scores = [h.scores["rerank"] for h in reranked[:3]]
    assert scores == sorted(scores, reverse=True)
    assert all("rerank" not in h.scores for h in reranked[3:])
    assert [h.rank for h in reranked] == list(range(1, len(reranked) + 1))
    assert [h.score for h in reranked] != [] and all("dense" in h.scores or "lexical" in h.scores for h in reranked)


def test_k_below_the_depth_still_reranks_the_whole_depth(searcher, fake):
    one = searcher.search(QUESTION, k=1, rerank=True)
    three = searcher.search(QUESTION, k=3, rerank=True)
    assert fake.calls == [3, 3] and one[0].passage.id == three[0].passage.id


def test_a_large_blend_keeps_the_fused_order(fake_index, fake):
    s = Searcher(fake_index, embedder=FakeEmbedder(), reranker=fake,
                 config=SearchConfig(rerank_depth=4, rerank_blend=1000.0))
    assert [h.passage.id for h in s.search(QUESTION, k=4, rerank=True)] == [
        h.passage.id for h in s.search(QUESTION, k=4, rerank=False)]


def test_rerank_stage_is_timed(searcher):
    timings: dict[str, float] = {}
    searcher.search_batch([QUESTION], 5, config=SearchConfig(rerank=True, rerank_depth=3), timings=timings)
    assert timings["rerank"] >= 0 and "fusion" in timings


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_mode_can_be_reranked(searcher, mode):
    hits = searcher.search(QUESTION, k=3, mode=mode, rerank=True)
    assert hits and all("rerank" in h.scores for h in hits)


def test_bad_depth_or_blend_is_refused_in_one_sentence():
    for kwargs in ({"rerank_depth": 0}, {"rerank_blend": -1.0}):
        with pytest.raises(QueryError) as info:
            SearchConfig(**kwargs)
        one_sentence(info.value)


# ---- loading: a missing or incomplete folder is one sentence ------------------------------------------------


def test_a_missing_folder_is_refused(fake_index, tmp_path):
    with pytest.raises(ModelError) as info:
        Searcher(fake_index, embedder=FakeEmbedder(), reranker=tmp_path / "nowhere")
    assert "does not exist" in one_sentence(info.value)


def test_an_incomplete_folder_is_refused(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{}", "utf-8")
    with pytest.raises(ModelError) as info:
        reranker_folder(tmp_path)
    assert "incomplete" in one_sentence(info.value) and "reranker.json" in str(info.value)
    (tmp_path / "reranker.json").write_text(json.dumps({"onnx": "model_int8.onnx", "max_length": 128}), "utf-8")
    with pytest.raises(ModelError) as info:
        load_reranker(tmp_path)
    assert "model_int8.onnx" in one_sentence(info.value)


def test_a_damaged_model_file_is_refused_when_it_is_opened(tmp_path):
    from passage_search.embed.model_folder import default_model_path

    (tmp_path / "tokenizer.json").write_bytes((default_model_path() / "tokenizer.json").read_bytes())
    (tmp_path / "reranker.json").write_text(json.dumps({"onnx": "model.onnx", "max_length": 64}), "utf-8")
    (tmp_path / "model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ModelError) as info:
        load_reranker(tmp_path).score("question", ["passage"])
    assert "cannot be loaded" in one_sentence(info.value)


def test_rerank_on_without_any_reranker_is_refused_at_start(fake_index, tmp_path, monkeypatch):
    monkeypatch.setattr(base, "PACKAGED", tmp_path / "models" / "reranker")
    with pytest.raises(ModelError) as info:
        Searcher(fake_index, embedder=FakeEmbedder(), config=SearchConfig(rerank=True))
    assert "--reranker PATH" in one_sentence(info.value)
    plain = Searcher(fake_index, embedder=FakeEmbedder())  # off: nothing is loaded, nothing is refused
    with pytest.raises(ModelError):
        plain.search(QUESTION, rerank=True)


def test_the_packaged_reranker_is_loaded_once_when_two_first_questions_ask_at_once(fake_index, fake, monkeypatch):
    import threading

    loads: list[int] = []
    both_asking = threading.Barrier(2)
    second_load = threading.Event()

    def slow_load(path=None, **_kw):
        loads.append(1)
        if len(loads) > 1:
            second_load.set()
        # The first load lingers so that, without a lock, the other thread's load would start meanwhile (the
        # wait ends at once if it does; with the lock it never does, and the wait only delays the pass).
        second_load.wait(timeout=1.0)
        return fake

    monkeypatch.setattr("passage_search.search.searcher.load_reranker", slow_load)
    plain = Searcher(fake_index, embedder=FakeEmbedder())
    got: list[object] = []

    def ask() -> None:
        both_asking.wait()
        got.append(plain.reranker)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1] and got == [fake, fake]


# ---- the faces: CLI, HTTP, eval -----------------------------------------------------------------------------


@pytest.fixture
def fake_stack(monkeypatch, fake):
    """Every searcher made from a folder gets the fake model, and any reranker path loads the fake reranker."""
    monkeypatch.setattr("passage_search.search.model.make_embedder", lambda model=None, **_kw: FakeEmbedder())
    monkeypatch.setattr("passage_search.search.searcher.load_reranker", lambda path=None, **_kw: fake)
    monkeypatch.setattr("passage_search.rerank.factory.load_reranker", lambda path=None, **_kw: fake)


def test_cli_search_reranks_with_rerank_or_a_reranker_folder(fake_index, fake_stack, capsys):
    def hits(*flags: str) -> list[dict]:
        assert main(["search", QUESTION, "--index", str(fake_index), "--json", "-k", "4", *flags]) == 0
        return json.loads(capsys.readouterr().out)["hits"]

    assert all("rerank" not in h["scores"] for h in hits())
    assert all("rerank" in h["scores"] for h in hits("--rerank", "--reranker", "somewhere", "--rerank-depth", "4"))
    assert all("rerank" in h["scores"] for h in hits("--reranker", "somewhere", "--rerank-depth", "4"))
    assert all("rerank" not in h["scores"] for h in hits("--no-rerank", "--reranker", "somewhere"))


def test_cli_search_with_a_missing_reranker_is_one_sentence(fake_index, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("passage_search.search.model.make_embedder", lambda model=None, **_kw: FakeEmbedder())
    assert main(["search", QUESTION, "--index", str(fake_index), "--reranker", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("passage-search: ") and err.endswith(".") and "\n" not in err


def test_http_rerank_is_a_request_field(fake_index, searcher):
    with TestClient(http.create_app(fake_index, searcher=searcher)) as c:
        on = c.get("/search", params={"q": QUESTION, "k": 4, "rerank": "true"}).json()["hits"]
        off = c.get("/search", params={"q": QUESTION, "k": 4, "rerank": "false"}).json()["hits"]
        default = c.get("/search", params={"q": QUESTION, "k": 4}).json()["hits"]
        bad = c.get("/search", params={"q": QUESTION, "rerank": "perhaps"})
    assert all("rerank" in h["scores"] for h in on[:3]) and all("rerank" not in h["scores"] for h in off)
    assert [h["id"] for h in default] == [h["id"] for h in off]
    assert bad.status_code == 422 and bad.json() == {"error": "rerank must be true or false."}


def test_eval_reports_with_and_without(tmp_path, fake):
    result = ev.run_eval(beir.load_beir(TINY_BEIR), modes=["dense", "hybrid"], k=10, cache_root=tmp_path,
                         embedder=FakeEmbedder(), rerank="both", reranker=fake, rerank_depth=5)
    assert list(result.modes) == ["dense", "dense+rerank", "hybrid", "hybrid+rerank"]
    assert all(0 <= r.metrics["ndcg@10"] <= 1 for r in result.modes.values())
    reranked = result.modes["hybrid+rerank"].queries[0].hits
    assert any("rerank" in h.scores for h in reranked)
    assert all("rerank" not in h.scores for q in result.modes["hybrid"].queries for h in q.hits)


def test_eval_modes_for_each_rerank_choice():
    assert ev.with_rerank(("dense", "hybrid"), "off") == ("dense", "hybrid")
    assert ev.with_rerank(("dense", "hybrid"), "on") == ("dense+rerank", "hybrid+rerank")
    assert ev.with_rerank(("hybrid",), "both") == ("hybrid", "hybrid+rerank")
    with pytest.raises(beir.EvalError):
        ev.with_rerank(("hybrid",), "sometimes")


def test_cmd_eval_both_prints_both_columns(fake_stack, tmp_path, capsys):
    assert main(["eval", str(TINY_BEIR), "--mode", "hybrid", "-k", "10", "--out", str(tmp_path), "-q",
                 "--reranker", "somewhere", "--rerank-depth", "5"]) == 0
    printed = capsys.readouterr().out
    assert "hybrid+rerank" in printed and " hybrid " in printed.replace("\n", " ")
