"""A build killed at any moment leaves the previous index whole; two builds never interleave."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import FakeEmbedder, write_tree

from passage_search.errors import BuildLockedError
from passage_search.index.build import build_index
from passage_search.search.searcher import Searcher

TESTS = Path(__file__).resolve().parents[1]  # where conftest.py is
QUESTIONS = ["limb sparing surgery", "radiation before surgery", "nausea and appetite", "follow up visits"]

OLD = {
    "care.txt": "Sarcoma care\n\nSurgery\n\nLimb sparing surgery removes the tumour and keeps the limb.\n\n"
    "Radiation\n\nRadiation before surgery can shrink the tumour.\n",
}
NEW = {
    "care.txt": OLD["care.txt"] + "\nFollow-up\n\nFollow up visits check that the cancer has not come back.\n",
    "eating.md": "# Eating well\n\n## Nausea\n\nSmall meals help with nausea and a poor appetite.\n",
}

# A build slowed down in embedding and in writing, so kills land in every phase.
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from conftest import FakeEmbedder
    import passage_search.index.writer as index
    from passage_search.index.build import build_index

    class Slow(FakeEmbedder):
        started = False

        def embed(self, texts, **kwargs):
            if not Slow.started:  # the build holds its lock by now
                Slow.started = True
                print("start", flush=True)
            time.sleep(0.15)
            return super().embed(texts, **kwargs)

    fsync = index._fsync_tree
    def slow_fsync(folder, **kwargs):
        time.sleep(0.3)
        fsync(folder, **kwargs)
    index._fsync_tree = slow_fsync
    build_index(Path({corpus!r}), Path({out!r}), embedder=Slow(), force=True)
    print("done", flush=True)
    time.sleep({linger})
    """
)


def answers(out: Path) -> list[list[str]]:
    searcher = Searcher(out, embedder=FakeEmbedder())
    return [[h.passage.id for h in searcher.search(q, k=3)] for q in QUESTIONS]


def start_child(corpus: Path, out: Path, linger: float = 0.0) -> subprocess.Popen[str]:
    code = CHILD.format(tests=str(TESTS), corpus=str(corpus), out=str(out), linger=linger)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "start"
    return child


@pytest.fixture
def indexes(tmp_path):
    old, new = write_tree(tmp_path / "old", OLD), write_tree(tmp_path / "new", NEW)
    out = tmp_path / "index"
    build_index(new, out, embedder=FakeEmbedder())
    want_new = answers(out)
    build_index(old, out, embedder=FakeEmbedder(), force=True)
    return old, new, out, answers(out), want_new


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.9, 1.2])
def test_a_build_killed_at_any_point_leaves_a_whole_index(indexes, delay):
    _old, new, out, want_old, want_new = indexes
    child = start_child(new, out)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    got = answers(out)  # loads and searches: never a half-written generation
    assert got in (want_old, want_new)
    # The next build runs normally and cleans up whatever the killed one left behind.
    build_index(new, out, embedder=FakeEmbedder())
    assert answers(out) == want_new
    assert len([p for p in out.glob("gen-*")]) == 1 and not list(out.glob(".current.*"))


def test_a_second_build_at_the_same_time_is_refused_with_one_sentence(indexes):
    old, new, out, want_old, _want_new = indexes
    child = start_child(new, out, linger=0)
    try:
        with pytest.raises(BuildLockedError, match=r"Another build of the index at .* is running \(pid \d+\)"):
            build_index(old, out, embedder=FakeEmbedder(), force=True)
        assert answers(out) in (want_old, _want_new)
    finally:
        child.wait(timeout=60)
    # With a wait, the second build runs after the first one and both complete, one after the other.
    child = start_child(new, out)
    result = build_index(old, out, embedder=FakeEmbedder(), force=True, wait=60)
    child.wait(timeout=60)
    assert child.returncode == 0 and result.passages > 0
    assert answers(out) == want_old


def test_a_dead_builder_does_not_hold_the_lock(indexes):
    _old, new, out, _want_old, want_new = indexes
    child = start_child(new, out)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    build_index(new, out, embedder=FakeEmbedder())
    assert answers(out) == want_new
