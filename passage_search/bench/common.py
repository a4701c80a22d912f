"""What the benchmark parts share: percentiles, peak memory, the question set, the baseline's model."""

from __future__ import annotations

import json
import random
import resource
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from passage_search.eval.metrics import percentile

_CHECKOUT = Path(__file__).resolve().parents[2]
# The checkout this package runs from (editable install), else the folder the benchmark is run in: an
# installed package has no corpus/, tests/ or ../shared of its own.
REPO = _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() else Path.cwd()
SHARED = REPO.parent / "shared" / "data"
# Questions of the kind patients type, for a folder with no question sets beside it.
FALLBACK_QUESTIONS = (
    "will they have to take my leg off?", "chemo side effects", "what happens if it comes back",
    "how long does radiation take", "is surgery the main treatment", "what is targeted therapy",
    "what if the cancer has spread to my lungs", "do I need follow-up appointments",
)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 (linear interpolation between order statistics), in the values' unit."""
    return {f"p{q}": round(percentile(values, q), 3) for q in (50, 95, 99)}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def questions(n: int, seed: int = 7) -> list[str]:
    """``n`` questions: templated and patient-style ones from the dev sets when ../shared is there
    (three templated to one lay), else the bundled seed questions; cycled if there are fewer."""
    templated = _texts(SHARED / "cancergov" / "queries.jsonl", "text")
    lay = _texts(REPO / "tests" / "data" / "cancergov_lay" / "queries.jsonl", "text")
    seed_set = _texts(REPO / "tests" / "data" / "seed_questions.jsonl", "question")
    rng = random.Random(seed)
    pool = templated + lay if templated else (seed_set + lay or list(FALLBACK_QUESTIONS))
    rng.shuffle(pool)
    if templated:
        lay_n = min(len(lay), n // 4)
        pool = rng.sample(templated, min(len(templated), n - lay_n)) + rng.sample(lay, lay_n)
        rng.shuffle(pool)
    return [pool[i % len(pool)] for i in range(n)]


def _texts(path: Path, key: str) -> list[str]:
    if not path.is_file():
        return []
    return [json.loads(line)[key] for line in path.read_text("utf-8").splitlines() if line.strip()]


def ratio(ours: float, baseline: float) -> float | None:
    return round(ours / baseline, 2) if baseline else None


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now, for a server a benchmark or test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Stop a server process: ask (SIGTERM), then insist (SIGKILL) if it has not exited within ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
