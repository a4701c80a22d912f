"""Many people at once: 50 threads searching one loaded searcher for 10 seconds."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import SEED_QUESTIONS

pytestmark = pytest.mark.model

THREADS = 50
SECONDS = 10.0


def _questions() -> list[str]:
    import json

    return [json.loads(line)["question"] for line in SEED_QUESTIONS.read_text("utf-8").splitlines() if line.strip()]


def test_fifty_concurrent_searchers_get_what_one_alone_gets(real_searcher):
    questions = _questions()
    alone = {q: [(h.passage.id, round(h.score, 6)) for h in real_searcher.search(q, k=5)] for q in questions}
    stop = time.monotonic() + SECONDS
    latencies: list[float] = []
    wrong: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> int:
        done, i = 0, n
        while time.monotonic() < stop:
            q = questions[i % len(questions)]
            started = time.perf_counter()
            got = [(h.passage.id, round(h.score, 6)) for h in real_searcher.search(q, k=5)]
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if got != alone[q]:
                    wrong.append(q)
            done, i = done + 1, i + 7
        return done

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        counts = list(pool.map(worker, range(THREADS)))
    latencies.sort()
    p = {q: latencies[min(len(latencies) - 1, int(len(latencies) * q / 100))] for q in (50, 95, 99)}
    print(f"\n{sum(counts)} searches by {THREADS} threads in {SECONDS:.0f} s: "
          + ", ".join(f"p{q} {ms:.0f} ms" for q, ms in p.items()))
    assert not wrong, f"{len(wrong)} searches differed from the same question run alone, e.g. {wrong[0]!r}"
    assert all(c > 0 for c in counts), "a thread never completed a search"
