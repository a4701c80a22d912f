"""The HTTP API: in process with TestClient (fake model), and one real ``passage-search serve`` (real model)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import DAMAGE, REPO, SEARCH_APP, FakeEmbedder
from fastapi.testclient import TestClient

from passage_search.app import http
from passage_search.app.cli import main
from passage_search.bench.common import free_port, stop
from passage_search.index.manifest import BUILD_HINT
from passage_search.search.confidence import LABELS, MESSAGES, STATES
from passage_search.search.config import MODES
from passage_search.search.searcher import Searcher

QUESTIONS = ["limb sparing surgery", "radiation before surgery", "nausea in the morning", "what is sarcoma"]
RESULT_KEYS = {
    "question",
    "mode",
    "confidence",
    "label",
    "message",
    "certainty",
    "corrections",
    "expansions",
    "understood",
    "showing",
    "instead",
    "exact",
    "notices",
    "filtered",
    "ms",
    "hits",
}
HIT_KEYS = {
    "rank", "score", "id", "doc_id", "heading_path", "title", "text", "source", "publisher", "url", "ranks", "scores"
}


@pytest.fixture
def fake_model(monkeypatch):
    """Every searcher made from an index folder gets the fake model (as in test_cli and test_page)."""
    monkeypatch.setattr("passage_search.search.model.make_embedder", lambda model=None, **_kw: FakeEmbedder())


@pytest.fixture
def searcher(fake_index: Path) -> Searcher:
    return Searcher(fake_index, embedder=FakeEmbedder())


@pytest.fixture
def client(fake_index: Path, searcher: Searcher) -> Iterator[TestClient]:
    with TestClient(http.create_app(fake_index, searcher=searcher)) as c:  # `with` runs the lifespan
        yield c


def one_sentence_error(response: httpx.Response, status: int) -> str:
    """The response's error sentence, after checking it is the only thing in a JSON body with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"], body  # no FastAPI "detail" list
    sentence = body["error"]
    assert isinstance(sentence, str) and sentence.strip() == sentence and "\n" not in sentence
    assert "Traceback" not in response.text and 'File "' not in response.text
    return sentence


def without_ms(data: dict) -> dict:
    return {key: value for key, value in data.items() if key != "ms"}


# ---- /search -----------------------------------------------------------------------------------------------


def test_search_answers_with_the_result_json(client, fake_index):
    response = client.get("/search", params={"q": "limb-sparing surgery", "k": 3})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == RESULT_KEYS
    assert body["question"] == "limb-sparing surgery" and body["mode"] == "hybrid"
    # The fake embedder's similarities mean nothing, so any state; the three fields must agree.
    assert body["confidence"] in STATES
    assert (body["label"], body["message"]) == (LABELS[body["confidence"]], MESSAGES[body["confidence"]])
    assert body["certainty"] is None or isinstance(body["certainty"], float)
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3]
    for hit in body["hits"]:
        assert set(hit) == HIT_KEYS
        assert isinstance(hit["score"], float) and isinstance(hit["heading_path"], list)
    top = body["hits"][0]
    assert top["heading_path"] == ["Living with sarcoma", "Surgery"]
    assert top["title"] == "Living with sarcoma" and top["source"] == "sarcoma.txt"
    assert top["publisher"] == "Example Health Society"
    assert top["text"].startswith("Surgery removes the tumour")


def test_a_repaired_question_says_so_and_exact_true_searches_the_words_as_typed(client, searcher):
    body = client.get("/search", params={"q": "surgrey for the tumour", "k": 3}).json()
    assert body["showing"] == "Showing results for surgery for the tumour" and body["exact"] is False
    assert body["corrections"] == {"surgrey": "surgery"}
    assert without_ms(body) == without_ms(searcher.search("surgrey for the tumour", k=3).to_json())
    typed = client.get("/search", params={"q": "surgrey for the tumour", "k": 3, "exact": "true"}).json()
    assert (typed["showing"], typed["exact"], typed["corrections"]) == ("", True, {})
    assert without_ms(typed) == without_ms(searcher.search("surgrey for the tumour", k=3, exact=True).to_json())


def test_lay_words_are_named_in_the_json(client):
    body = client.get("/search", params={"q": "chemo side effects"}).json()
    assert body["understood"] == [
        {"words": "chemo", "searched": ["chemotherapy"]},
        {"words": "side effects", "searched": ["adverse effects"]},
    ]
    assert body["showing"].endswith("also searching for “chemotherapy”, “adverse effects”")
    assert body["instead"] == "Search only for “chemo side effects”"  # nothing repaired: only words added


def test_each_hit_carries_its_source_url(tmp_path):
    from conftest import write_tree

    from passage_search.index.build import build_index

    corpus = write_tree(
        tmp_path / "corpus",
        {"op.md": "# Your operation\n\n## Surgery {#surgery}\n\nSurgery removes the tumour.\n",
         "op.meta.json": '{"url": "https://example.org/op"}'},
    )
    build_index(corpus, tmp_path / "index", embedder=FakeEmbedder())
    searcher = Searcher(tmp_path / "index", embedder=FakeEmbedder())
    with TestClient(http.create_app(tmp_path / "index", searcher=searcher)) as c:
        hit = c.get("/search", params={"q": "surgery", "k": 1}).json()["hits"][0]
    assert hit["url"] == "https://example.org/op#surgery"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k", [1, 3, 50])
def test_search_gives_what_the_searcher_gives(client, searcher, mode, k):
    for question in QUESTIONS:
        body = client.get("/search", params={"q": question, "k": k, "mode": mode}).json()
        expected = searcher.search(question, k=k, mode=mode)
        assert [h["id"] for h in body["hits"]] == [h.passage.id for h in expected]
        assert without_ms(body) == without_ms(expected.to_json())
        assert body["mode"] == mode


def test_k_and_mode_default_to_5_and_hybrid(client, searcher):
    body = client.get("/search", params={"q": "treatment"}).json()
    assert body["mode"] == "hybrid"
    assert [h["id"] for h in body["hits"]] == [h.passage.id for h in searcher.search("treatment", k=5)]


ODD_QUESTIONS = [
    "surgery\x00\x1b[31m",
    "🤒💊 chemo?",
    "ما هو العلاج الكيميائي",
    "化疗副作用",
    "the of and to",
    "?!.,;:",
]


@pytest.mark.parametrize("question", ODD_QUESTIONS, ids=range(len(ODD_QUESTIONS)))
def test_odd_but_searchable_questions_are_answered(client, question):
    body = client.get("/search", params={"q": question}).json()
    assert set(body) == RESULT_KEYS
    assert "\x00" not in body["question"] and "\x1b" not in body["question"]


def test_a_very_long_question_is_cut_short_with_a_notice(client):
    body = client.get("/search", params={"q": "limb-sparing surgery " * 300}).json()
    assert len(body["question"]) == 1000
    assert body["notices"] == ["Only the first 1,000 characters of your question were searched."]


def test_undecodable_percent_escapes_are_searched_not_a_crash(client):
    assert client.get("/search?q=%FF%FE%ED%A0%80").status_code == 200


K_ERROR = "k must be a whole number from 1 to 50."
MODE_ERROR = "mode must be one of dense, lexical or hybrid."
BAD_INPUT = {
    "no q": ("/search", http.BAD_PARAMETER["q"]),
    "no q, bad k": ("/search?k=x", http.BAD_PARAMETER["q"]),
    "empty q": ("/search?q=", "Type a question to search."),
    "blank q": ("/search?q=%20%20%09", "Type a question to search."),
    "control characters only": ("/search?q=%00%07%1b", "Type a question to search."),
    "k 0": ("/search?q=surgery&k=0", K_ERROR),
    "k 51": ("/search?q=surgery&k=51", K_ERROR),
    "k negative": ("/search?q=surgery&k=-3", K_ERROR),
    "k words": ("/search?q=surgery&k=five", K_ERROR),
    "k trailing characters": ("/search?q=surgery&k=5abc", K_ERROR),
    "k fraction": ("/search?q=surgery&k=2.5", K_ERROR),
    "k empty": ("/search?q=surgery&k=", K_ERROR),
    "k huge": ("/search?q=surgery&k=" + "9" * 40, K_ERROR),
    "k nul": ("/search?q=surgery&k=5%00", K_ERROR),
    "k true": ("/search?q=surgery&k=true", K_ERROR),
    "k nan": ("/search?q=surgery&k=nan", K_ERROR),
    "k exponent": ("/search?q=surgery&k=1e1", K_ERROR),
    "mode unknown": ("/search?q=surgery&mode=fast", MODE_ERROR),
    "mode upper case": ("/search?q=surgery&mode=HYBRID", MODE_ERROR),
    "mode empty": ("/search?q=surgery&mode=", MODE_ERROR),
    "mode trailing characters": ("/search?q=surgery&mode=hybrid%00", MODE_ERROR),
    "mode markup": ("/search?q=surgery&mode=%3Cscript%3E", MODE_ERROR),
    "exact words": ("/search?q=surgery&exact=please", "exact must be true or false."),
}


@pytest.mark.parametrize("url, sentence", BAD_INPUT.values(), ids=BAD_INPUT)
def test_bad_input_gets_a_422_with_one_sentence(client, url, sentence):
    assert one_sentence_error(client.get(url), 422) == sentence


def test_the_searchers_own_refusal_is_a_422_with_its_sentence(client, searcher, monkeypatch):
    search = searcher.search

    def with_a_bad_filter(q, **kwargs):
        return search(q, **kwargs, within={-1})  # as a face that filtered wrongly would ask

    monkeypatch.setattr(searcher, "search", with_a_bad_filter)
    sentence = one_sentence_error(client.get("/search", params={"q": "surgery"}), 422)
    assert sentence == f"within must hold passage rows from 0 to {len(searcher.passages) - 1}, not -1."


def test_unknown_paths_and_methods_get_one_sentence(client):
    assert "/search?q=" in one_sentence_error(client.get("/nothing-here"), 404)
    assert one_sentence_error(client.post("/search", params={"q": "surgery"}), 405) == (
        "/search answers GET requests only."
    )


def test_an_unexpected_failure_is_a_500_that_leaks_nothing(client, searcher, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret detail at /srv/index/gen-1")

    monkeypatch.setattr(searcher, "search", broken)
    with caplog.at_level("ERROR", logger="passage_search.app.http"):
        response = client.get("/search", params={"q": "private question about my tumour"})
    assert one_sentence_error(response, 500) == http.INTERNAL
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert any(r.exc_info and "secret detail" in str(r.exc_info[1]) for r in caplog.records)  # logged server-side
    assert "tumour" not in caplog.text  # the question is not


def test_a_library_error_while_searching_is_a_503_with_its_sentence(client, searcher, monkeypatch):
    from passage_search.errors import VectorStoreError

    sentence = "Cannot reach Milvus at http://127.0.0.1:1 (refused); start it, or check --uri."

    def unreachable(*_args, **_kwargs):
        raise VectorStoreError(sentence)

    monkeypatch.setattr(searcher, "search", unreachable)
    assert one_sentence_error(client.get("/search", params={"q": "surgery"}), 503) == sentence


# ---- start-up and /healthz ---------------------------------------------------------------------------------


def test_healthz_names_the_loaded_index(client, fake_index, searcher):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "passages": len(searcher.passages),
        "documents": 2,
        "model": "fake-hash",
        "index": (fake_index / "current").resolve().name,
        "corpus_fingerprint": searcher.manifest.corpus_fingerprint,
    }


def test_the_index_is_loaded_once_at_start_and_warmed(fake_index, fake_model, monkeypatch):
    made: list[Searcher] = []
    asked: list[str] = []
    threads: list[bool] = []

    class CountingSearcher(Searcher):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

        def search(self, query, k=5, **kwargs):
            asked.append(query)
            return super().search(query, k, **kwargs)

    # Both are looked up where the faces open a serving searcher.
    monkeypatch.setattr("passage_search.app.serving.Searcher", CountingSearcher)
    monkeypatch.setattr("passage_search.app.serving.serve_one_question_at_a_time", lambda: threads.append(True))
    app = http.create_app(fake_index)
    assert not made  # nothing is loaded until the app starts
    with TestClient(app) as c:
        assert len(made) == 1 and asked == ["warm up"] and threads == [True]
        for question in QUESTIONS:
            assert c.get("/search", params={"q": question}).status_code == 200
    assert len(made) == 1 and asked == ["warm up", *QUESTIONS]


def test_a_missing_index_still_starts_and_says_why(tmp_path):
    with TestClient(http.create_app(tmp_path / "no-index")) as c:
        health = c.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        reason = health.json()["error"]
        assert reason.startswith(f"No index found at {tmp_path / 'no-index'}") and BUILD_HINT in reason
        assert one_sentence_error(c.get("/search", params={"q": "surgery"}), 503) == reason
        assert one_sentence_error(c.get("/search"), 422) == http.BAD_PARAMETER["q"]  # bad input is still 422


@pytest.mark.parametrize("problem", DAMAGE)
def test_a_damaged_index_still_starts_and_says_how_to_rebuild(fake_index, fake_model, problem):
    DAMAGE[problem](fake_index)
    with TestClient(http.create_app(fake_index)) as c:
        health = c.get("/healthz")
        assert health.status_code == 503 and BUILD_HINT in health.json()["error"]
        assert one_sentence_error(c.get("/search", params={"q": "surgery"}), 503) == health.json()["error"]


def test_a_failure_other_than_ours_at_start_is_a_503_that_leaks_nothing(fake_index, searcher, monkeypatch):
    def broken(*_args, **_kwargs):
        raise MemoryError("internal detail")

    monkeypatch.setattr(searcher, "search", broken)
    with TestClient(http.create_app(fake_index, searcher=searcher)) as c:
        health = c.get("/healthz")
        assert health.status_code == 503 and health.json()["error"] == http.NOT_LOADED
        assert "internal detail" not in health.text


# ---- the documentation -------------------------------------------------------------------------------------


def test_docs_and_openapi_describe_the_api(client):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "passage-search" and "patient-information" in spec["info"]["description"]
    operation = spec["paths"]["/search"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params) == {"q", "k", "mode", "rerank", "exact"} and params["q"]["required"]
    assert all(p["description"] for p in params.values())
    assert (params["k"]["schema"]["minimum"], params["k"]["schema"]["maximum"]) == (1, 50)
    assert params["k"]["schema"]["default"] == 5
    assert params["mode"]["schema"]["enum"] == list(MODES)
    for status in ("422", "503", "500"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ErrorBody")
    assert "/healthz" in spec["paths"]


# ---- the same answer on every face -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_page_cli_and_http_rank_the_same_passages(fake_index, fake_model, monkeypatch, capsys, mode):
    from streamlit.testing.v1 import AppTest

    question, k = "limb sparing surgery and radiation", 3

    monkeypatch.setenv("PASSAGE_SEARCH_INDEX", str(fake_index))
    at = AppTest.from_file(str(SEARCH_APP), default_timeout=120)
    at.run()
    at.selectbox(key="k").select(k).run()
    at.radio(key="mode").set_value(mode).run()
    at.text_input(key="q").input(question).run()
    assert not at.exception, [e.value for e in at.exception]
    page_ids = [re.search(r"passage id (\w+)", c.value).group(1) for c in at.caption if "passage id" in c.value]

    assert main(["search", question, "--index", str(fake_index), "--json", "-k", str(k), "--mode", mode]) == 0
    cli_ids = [h["id"] for h in json.loads(capsys.readouterr().out)["hits"]]

    with TestClient(http.create_app(fake_index)) as c:
        http_ids = [h["id"] for h in c.get("/search", params={"q": question, "k": k, "mode": mode}).json()["hits"]]

    assert 1 <= len(http_ids) <= k  # lexical finds only passages sharing a word
    assert page_ids == cli_ids == http_ids


# ---- passage-search serve ----------------------------------------------------------------------------------


def test_serve_refuses_a_port_in_use_in_one_sentence(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "passage_search", "serve", "--port", str(port), "--index", str(tmp_path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr == (
        f"passage-search: Port {port} on 127.0.0.1 is already in use; stop what listens there or choose another "
        "with --port.\n"
    )
    assert time.perf_counter() - started < 10  # refused before any model is loaded


def test_help_does_not_import_the_web_stack():
    code = (
        "import sys\nfrom passage_search.app.cli import parser\n"
        "try:\n    parser().parse_args(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'torch') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--host HOST" in done.stdout and "127.0.0.1" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def wait_until_ready(proc: subprocess.Popen[bytes], url: str, log: Path, deadline_s: float = 120) -> httpx.Response:
    """Poll ``url`` until it answers 200; fail with the server's log if it exits or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"passage-search serve exited with {proc.returncode}: {log.read_text(errors='replace')}")
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response
            pytest.fail(f"{url} answered {response.status_code}: {response.text}")
        except httpx.TransportError:
            pass  # not listening yet (the model is still loading)
        if time.monotonic() > deadline:
            pytest.fail(f"passage-search serve was not ready within {deadline_s:.0f} s: {log.read_text()}")
        time.sleep(0.2)


@pytest.mark.model
def test_a_real_server_answers_on_loopback(real_index, real_searcher, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "passage_search", "serve", "--port", str(port), "--index", str(real_index)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            health = wait_until_ready(proc, f"{base}/healthz", log).json()
            assert health["status"] == "ok" and health["model"] == real_searcher.manifest.model.name
            assert health["passages"] == len(real_searcher.passages)
            assert health["index"] == (real_index / "current").resolve().name

            body = httpx.get(f"{base}/search", params={"q": "limb-sparing surgery", "k": 5}, timeout=30).json()
            assert body["hits"][0]["heading_path"][-1] == "Surgery for soft tissue sarcoma"
            expected = real_searcher.search("limb-sparing surgery", k=5)
            assert [h["id"] for h in body["hits"]] == [h.passage.id for h in expected]
            bad = httpx.get(f"{base}/search", params={"q": "surgery", "k": "lots"}, timeout=30)
            assert one_sentence_error(bad, 422) == K_ERROR

            # Several questions at once (FastAPI's threadpool): each gets its own answer.
            questions = ["chemotherapy side effects", "radiation therapy", "what is a sarcoma", "surgery"] * 2
            with httpx.Client(base_url=base, timeout=60) as c, ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda q: c.get("/search", params={"q": q}).json(), questions))
            for q, answer in zip(questions, answers, strict=True):
                assert answer["question"] == q
                assert [h["id"] for h in answer["hits"]] == [h.passage.id for h in real_searcher.search(q, k=5)]

            # Loopback only: 127.0.0.2 is this machine too, but the server is bound to 127.0.0.1 alone.
            if sys.platform == "linux":
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection(("127.0.0.2", port), timeout=5).close()
        finally:
            stop(proc)
    assert proc.returncode is not None
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "limb-sparing" not in text  # questions stay out of the log by default
