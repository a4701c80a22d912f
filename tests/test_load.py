"""Many people at once: 50 threads sharing one loaded searcher, through the Python API and over HTTP.

Every answer must be the one the same question gets alone, no call may raise, and every thread must come
back (a deadlock fails the test instead of hanging the suite). The tests assert on correctness only, never
on speed. They run for PASSAGE_SEARCH_LOAD_SECONDS (default 20, what CI runs; e.g. 2 for a quick local run).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, SEED_QUESTIONS, FakeEmbedder

from passage_search.errors import QueryError
from passage_search.search.config import MODES
from passage_search.search.searcher import Searcher

THREADS = 50
SECONDS = float(os.environ.get("PASSAGE_SEARCH_LOAD_SECONDS", "20"))
# How long the threads may take to come back once the time is up. Only an upper bound, generous so a busy
# machine never reaches it: a thread still out after it is stuck (a deadlock, a request that never returns).
JOIN_GRACE_S = 180.0

Case = tuple[str, int, str]  # question, k, mode


def _questions() -> list[str]:
    return [json.loads(line)["question"] for line in SEED_QUESTIONS.read_text("utf-8").splitlines() if line.strip()]


def _cases() -> list[Case]:
    """The seed questions over every mode and a few k, plus questions that take the other paths: a spelling
    correction, lay words expanded, one cut short with a notice, and one refused."""
    questions = _questions() + ["chemoterapy side efects", "will they have to take my leg off?", "surgery " * 200, ""]
    return [(q, (3, 5, 10)[i % 3], MODES[i % len(MODES)]) for i, q in enumerate(questions)]


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """A result's JSON without the milliseconds it took: everything else must be the same every time."""
    return {key: value for key, value in body.items() if key != "ms"}


def hammer(ask: Callable[[Case], Any], cases: list[Case]) -> int:
    """Ask ``cases`` from ``THREADS`` threads at once for ``SECONDS``; fail on any answer that differs from the
    one-thread answer, any exception, or any thread that does not come back. Returns how many were asked."""
    expected = [ask(case) for case in cases]  # one thread alone: what every concurrent answer must equal
    lock = threading.Lock()
    wrong: list[tuple[Case, Any]] = []
    errors: list[str] = []
    counts = [0] * THREADS
    go = threading.Event()
    deadline = 0.0

    def worker(n: int) -> None:
        go.wait()
        i = n
        try:
            while True:  # at least one question per thread, however slow the machine
                case = cases[i % len(cases)]
                got = ask(case)
                if got != expected[i % len(cases)]:
                    with lock:
                        wrong.append((case, got))
                counts[n] += 1
                i += 7
                if time.monotonic() >= deadline:
                    break
        except BaseException:  # noqa: BLE001 - every failure is reported by the test, not lost in a thread
            with lock:
                errors.append(traceback.format_exc())

    # Daemon threads: if one deadlocks, the test fails and the interpreter can still exit.
    threads = [threading.Thread(target=worker, args=(n,), name=f"load-{n}", daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + SECONDS
    go.set()
    give_up = deadline + JOIN_GRACE_S
    for thread in threads:
        thread.join(timeout=max(0.0, give_up - time.monotonic()))
    stuck = [t for t in threads if t.is_alive()]
    if stuck:
        frames = sys._current_frames()
        where = "".join(traceback.format_stack(frames[stuck[0].ident])) if stuck[0].ident in frames else ""
        pytest.fail(
            f"{len(stuck)} of {THREADS} threads had not come back {JOIN_GRACE_S:.0f} s after the end "
            f"(deadlock?); {stuck[0].name} was at:\n{where}"
        )
    assert not errors, f"{len(errors)} threads raised; the first:\n{errors[0]}"
    assert not wrong, (
        f"{len(wrong)} answers differed from the same question asked alone, e.g. {wrong[0][0]!r} got {wrong[0][1]!r}"
    )
    print(f"\n{sum(counts)} searches by {THREADS} threads in {SECONDS:.0f} s")
    return sum(counts)


def searcher_answer(searcher: Searcher) -> Callable[[Case], Any]:
    def ask(case: Case) -> Any:
        question, k, mode = case
        try:
            return comparable(searcher.search(question, k=k, mode=mode).to_json())
        except QueryError as exc:  # the empty question: refused the same way every time
            return {"error": str(exc)}

    return ask


@pytest.fixture(scope="module")
def bundled_fake_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled corpus indexed with the fake embedder: the real passages, headings and BM25, no model."""
    from passage_search.index.build import build_index

    out = tmp_path_factory.mktemp("load") / "index"
    build_index(CORPUS, out, embedder=FakeEmbedder())
    return out


@pytest.fixture(scope="module")
def fake_searcher(bundled_fake_index: Path) -> Searcher:
    return Searcher(bundled_fake_index, embedder=FakeEmbedder())


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.model)])
def shared_searcher(request: pytest.FixtureRequest) -> Searcher:
    """One searcher for all the threads: with the fake embedder, and with the packaged model (ONNX Runtime)."""
    return request.getfixturevalue("fake_searcher" if request.param == "fake" else "real_searcher")


def test_fifty_threads_sharing_one_searcher_get_what_one_alone_gets(shared_searcher):
    assert hammer(searcher_answer(shared_searcher), _cases()) >= THREADS


@pytest.fixture
def http_server(bundled_fake_index: Path, fake_searcher: Searcher) -> Iterator[str]:
    """``passage-search serve``'s app on a free port of 127.0.0.1 (uvicorn in a thread), over the shared searcher."""
    import uvicorn

    from passage_search.app.http import create_app
    from passage_search.bench.common import free_port

    port = free_port()
    app = create_app(bundled_fake_index, searcher=fake_searcher)
    # log_config=None: uvicorn would otherwise point its loggers at this test's captured stderr for the session.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    give_up = time.monotonic() + 120
    while not server.started:  # set once the lifespan (loading and warming the searcher) is done and it listens
        assert thread.is_alive(), "uvicorn stopped before it was listening"
        assert time.monotonic() < give_up, "uvicorn was not listening within 120 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def test_fifty_http_clients_at_once_get_what_one_alone_gets(http_server, fake_searcher):
    import httpx

    local = threading.local()  # one client (connection) per thread, as fifty people would have
    clients: list[httpx.Client] = []

    def ask(case: Case) -> Any:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=http_server, timeout=120)  # an upper bound, not a speed test
            clients.append(local.client)
        question, k, mode = case
        response = local.client.get("/search", params={"q": question, "k": k, "mode": mode})
        return response.status_code, comparable(response.json())

    # Alone, the API answers what the library answers (the refused question with a 422 and the same sentence).
    direct = searcher_answer(fake_searcher)
    for case in _cases():
        status, body = ask(case)
        assert (status, body) == ((422, direct(case)) if not case[0] else (200, direct(case))), case
    try:
        assert hammer(ask, _cases()) >= THREADS
    finally:
        for client in clients:
            client.close()
