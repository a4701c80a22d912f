"""Passage vectors served from Milvus: Milvus Lite in server mode on 127.0.0.1, started and stopped here."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_QUESTIONS, FakeEmbedder, write_tree

from passage_search.app.cli import main
from passage_search.backends import milvus_store
from passage_search.backends.milvus_push import push, push_vectors
from passage_search.backends.milvus_store import MilvusVectors, StoreIdentity, opener, vectors_from_env
from passage_search.bench.common import free_port, stop
from passage_search.errors import IndexMismatchError, VectorStoreError
from passage_search.index.build import build_index
from passage_search.index.store import load_index
from passage_search.index.topk import knn
from passage_search.search.config import MODES
from passage_search.search.searcher import Searcher

QUESTIONS = [
    "radiation therapy before surgery",
    "will they keep my leg",
    "nausea in the morning",
    "what is sarcoma",
    "eating when appetite is poor",
    "doctor advice",
]


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus Lite server on a free port of 127.0.0.1 with a temporary data folder; its URI."""
    from pymilvus import MilvusClient

    folder = tmp_path_factory.mktemp("milvus")
    port = free_port()
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder / "data"),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"milvus-lite exited with {proc.returncode}: {log_path.read_text(errors='replace')}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail("milvus-lite did not listen within 60 s")
                    time.sleep(0.1)
            uri = f"http://127.0.0.1:{port}"
            MilvusClient(uri=uri, timeout=10).get_server_version()  # listening is not yet answering
            yield uri
        finally:
            stop(proc, timeout=10)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _overlap(a: list[list[tuple[int, float]]], b: list[list[tuple[int, float]]], k: int = 10) -> float:
    """Mean share of ``b``'s top-k rows that ``a`` also has in its top k."""
    shares = [len({r for r, _ in x[:k]} & {r for r, _ in y[:k]}) / len(y[:k]) for x, y in zip(a, b, strict=True)]
    return float(np.mean(shares))


def _same_hits(ours: Searcher, reference: Searcher, question: str, k: int, **kwargs) -> None:
    got, want = ours.search(question, k, **kwargs), reference.search(question, k, **kwargs)
    assert [(h.passage.id, h.rank) for h in got] == [(h.passage.id, h.rank) for h in want], question
    assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-5)


def _one_sentence(message: str) -> None:
    assert "\n" not in message and not re.search(r"\.\s+[A-Z]", message), message


@pytest.fixture
def synthetic() -> tuple[np.ndarray, np.ndarray, StoreIdentity]:
    """2,000 normalised 384-d vectors, and 300 questions: half random, half near a corpus vector."""
    rng = np.random.default_rng(7)
    corpus = _unit(rng.standard_normal((2000, 384)))
    near = corpus[rng.choice(2000, 150, replace=False)] + 0.08 * rng.standard_normal((150, 384))
    queries = _unit(np.vstack([rng.standard_normal((150, 384)), near]))
    identity = StoreIdentity("synthetic", "synthetic-384", 384, "synthetic", 2000, "rows-v1")
    return corpus, queries, identity


def test_exact_top10_agrees_with_faiss_flat(milvus, synthetic):
    import faiss

    corpus, queries, identity = synthetic
    summary = push_vectors(milvus, "synthetic_flat", corpus, [f"p{i}" for i in range(2000)], identity)
    assert summary.rows == 2000 and not summary.up_to_date
    store = MilvusVectors(milvus, "synthetic_flat", identity)
    assert (store.ntotal, store.d, store.index_type) == (2000, 384, "FLAT")
    flat = faiss.IndexFlatIP(384)
    flat.add(corpus)
    ours, reference = knn(store, queries, 10), knn(flat, queries, 10)
    assert _overlap(ours, reference) >= 0.99
    for got, want in zip(ours, reference, strict=True):
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-4)
    # More rows asked for than there are: every row once, as knn clamps k for FAISS.
    assert sorted(r for r, _ in knn(store, queries[:1], 5000)[0]) == list(range(2000))


@pytest.mark.parametrize("index_type", ["HNSW", "IVF_FLAT"])
def test_approximate_indexes_keep_recall(milvus, synthetic, index_type):
    import faiss
    from pymilvus import MilvusClient

    corpus, queries, identity = synthetic
    name = f"synthetic_{index_type.lower()}"
    summary = push_vectors(milvus, name, corpus, [f"p{i}" for i in range(2000)], identity, index_type=index_type)
    built = MilvusClient(uri=milvus).describe_index(summary.target, "vector")
    assert built["index_type"] == index_type
    store = MilvusVectors(milvus, name, identity)
    flat = faiss.IndexFlatIP(384)
    flat.add(corpus)
    # Random vectors have no clusters, IVF's worst case: 0.94 of the exact top 10 with 96 of 179 lists probed.
    assert _overlap(knn(store, queries, 10), knn(flat, queries, 10)) >= 0.9


def test_hybrid_search_through_the_searcher_matches_faiss(milvus, fake_index, fake_embedder):
    push(fake_index, milvus, "tiny_hybrid")
    reference = Searcher(fake_index, embedder=fake_embedder)
    ours = Searcher(fake_index, embedder=fake_embedder, vectors=opener("milvus", milvus, "tiny_hybrid"))
    assert isinstance(ours.vector_store, MilvusVectors)
    assert len(ours.passages) < 10
    for question in QUESTIONS:
        for mode in MODES:
            for k in (1, 3, 10):
                if mode == "dense" and k < len(ours.passages):
                    # The word-hash vectors tie exactly (0.0 for no shared word): when k cuts through a tie,
                    # FAISS keeps its lowest rows, Milvus any. Hybrid asks both for 100 candidates: no cut there.
                    got, want = ours.search(question, k, mode=mode), reference.search(question, k, mode=mode)
                    assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-6)
                else:
                    _same_hits(ours, reference, question, k, mode=mode)
    _same_hits(ours, reference, "surgery", 5, within={0, 2, 3})  # filtered searches stay local and exact


def test_a_collection_of_another_model_is_refused(milvus, fake_index, tiny_corpus, tmp_path):
    push(fake_index, milvus, "tiny_model")
    other_model = FakeEmbedder(name="fake-other", fingerprint="fake-other-64")
    other = tmp_path / "other-model"
    build_index(tiny_corpus, other, embedder=other_model)
    with pytest.raises(IndexMismatchError) as refused:
        Searcher(other, embedder=other_model, vectors=opener("milvus", milvus, "tiny_model"))
    message = str(refused.value)
    assert "fake-hash (fake-hash-64)" in message and "fake-other (fake-other-64)" in message
    assert f"passage-search milvus push --index {other} --uri {milvus} --collection tiny_model" in message
    _one_sentence(message)


def test_same_counts_but_other_rows_are_refused(milvus, synthetic):
    corpus, _queries, identity = synthetic
    push_vectors(milvus, "synthetic_rows", corpus, [f"p{i}" for i in range(2000)], identity)
    shuffled = replace(identity, rows_fingerprint="rows-v2")
    with pytest.raises(IndexMismatchError, match="another order or were embedded with other settings"):
        MilvusVectors(milvus, "synthetic_rows", shuffled)


def test_missing_and_foreign_collections_are_refused(milvus, fake_index):
    from pymilvus import MilvusClient

    index = load_index(fake_index)
    with pytest.raises(VectorStoreError) as missing:
        MilvusVectors.for_index(index, milvus, "nothing_here")
    assert "There is no Milvus collection nothing_here" in str(missing.value)
    _one_sentence(str(missing.value))
    client = MilvusClient(uri=milvus)
    client.create_collection("foreign", dimension=64)
    with pytest.raises(IndexMismatchError, match="was not made by a push"):
        MilvusVectors.for_index(index, milvus, "foreign")
    with pytest.raises(VectorStoreError, match="that a push did not make"):
        push(fake_index, milvus, "foreign")
    assert client.has_collection("foreign")  # someone else's collection is never dropped
    with pytest.raises(VectorStoreError, match="cannot name a Milvus collection"):
        push(fake_index, milvus, "no-dashes")


def test_an_unreachable_server_is_one_sentence(fake_index, monkeypatch):
    monkeypatch.setattr(milvus_store, "CONNECT_TIMEOUT", 1.0)
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(VectorStoreError) as down:
        MilvusVectors.for_index(load_index(fake_index), uri)
    assert time.monotonic() - started < 10
    assert str(down.value).startswith(f"Cannot reach Milvus at {uri}")
    _one_sentence(str(down.value))


def test_a_push_replaces_the_collection_and_searchers_follow_only_the_same_index(
    milvus, fake_index, fake_embedder, tmp_path
):
    from pymilvus import MilvusClient

    client = MilvusClient(uri=milvus)
    first = push(fake_index, milvus, "tiny_swap")
    again = push(fake_index, milvus, "tiny_swap")
    assert again.up_to_date and again.target == first.target
    opened = MilvusVectors.for_index(load_index(fake_index), milvus, "tiny_swap")
    question = fake_embedder.embed(["radiation therapy"])
    before = knn(opened, question, 10)  # every row: k cutting through tied scores may keep any of them
    # The same index again with another index type: a new collection, and the open searcher moves to it.
    hnsw = push(fake_index, milvus, "tiny_swap", index_type="HNSW")
    assert hnsw.target != first.target and not client.has_collection(first.target)
    assert knn(opened, question, 10) == before
    assert (opened.target, opened.index_type) == (hnsw.target, "HNSW")
    # Another index under the same name: refused, never its rows.
    corpus = write_tree(tmp_path / "other-corpus", {"a.md": "# Other\n\nA different page.\n\n## More\n\nMore words."})
    other = tmp_path / "other-index"
    build_index(corpus, other, embedder=fake_embedder)
    replaced = push(other, milvus, "tiny_swap")
    assert not client.has_collection(hnsw.target)
    with pytest.raises(IndexMismatchError, match="does not match the local index"):
        opened.search(question, 3)
    assert MilvusVectors.for_index(load_index(other), milvus, "tiny_swap").ntotal == replaced.rows


def test_the_page_reads_its_store_from_the_environment(milvus, fake_index, fake_embedder, monkeypatch):
    push(fake_index, milvus, "tiny_env")
    for name in (milvus_store.ENV_STORE, milvus_store.ENV_URI, milvus_store.ENV_COLLECTION):
        monkeypatch.delenv(name, raising=False)
    plain = Searcher(fake_index, embedder=fake_embedder, vectors=vectors_from_env)
    assert plain.vector_store is plain.index.vectors
    monkeypatch.setenv(milvus_store.ENV_STORE, "milvus")
    with pytest.raises(VectorStoreError, match="needs --uri or PASSAGE_SEARCH_MILVUS_URI"):
        Searcher(fake_index, embedder=fake_embedder, vectors=vectors_from_env)
    monkeypatch.setenv(milvus_store.ENV_URI, milvus)
    monkeypatch.setenv(milvus_store.ENV_COLLECTION, "tiny_env")
    served = Searcher(fake_index, embedder=fake_embedder, vectors=vectors_from_env)
    assert isinstance(served.vector_store, MilvusVectors) and served.vector_store.collection == "tiny_env"
    monkeypatch.setenv(milvus_store.ENV_STORE, "redis")
    with pytest.raises(VectorStoreError, match="Unknown vector store 'redis'"):
        Searcher(fake_index, embedder=fake_embedder, vectors=vectors_from_env)


def test_a_store_with_other_row_count_is_refused(fake_index, fake_embedder):
    class Short:
        ntotal = 1

        def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
            raise AssertionError("never searched")

    with pytest.raises(IndexMismatchError, match="holds 1 vectors"):
        Searcher(fake_index, embedder=fake_embedder, vectors=lambda index: Short())


@pytest.fixture
def fake_model(monkeypatch):
    def make(model=None, **_kwargs):
        return FakeEmbedder(name=model or "fake-hash")

    monkeypatch.setattr("passage_search.search.model.make_embedder", make)


def test_cli_push_then_search_round_trip(milvus, fake_model, fake_index, capsys):
    push_args = ["milvus", "push", "--index", str(fake_index), "--uri", milvus, "--collection", "tiny_cli"]
    assert main(push_args) == 0
    assert "Pushed " in capsys.readouterr().out
    assert main(push_args) == 0
    assert "already holds these" in capsys.readouterr().out
    search = ["search", "radiation before surgery", "--index", str(fake_index), "-k", "4", "--json"]
    assert main(search) == 0
    want = json.loads(capsys.readouterr().out)["hits"]
    assert main([*search, "--vector-store", "milvus", "--uri", milvus, "--collection", "tiny_cli"]) == 0
    got = json.loads(capsys.readouterr().out)["hits"]
    assert [h["id"] for h in got] == [h["id"] for h in want] and len(got) == 4


def test_cli_errors_are_one_sentence_and_exit_1(milvus, fake_model, fake_index, capsys, monkeypatch):
    monkeypatch.setattr(milvus_store, "CONNECT_TIMEOUT", 1.0)
    monkeypatch.delenv(milvus_store.ENV_URI, raising=False)
    search = ["search", "surgery", "--index", str(fake_index)]
    cases = {
        "There is no Milvus collection": [*search, "--vector-store", "milvus", "--uri", milvus, "--collection", "nope"],
        "Cannot reach Milvus": [*search, "--vector-store", "milvus", "--uri", f"http://127.0.0.1:{free_port()}"],
        "only apply with --vector-store milvus": [*search, "--uri", milvus],
        "Say where Milvus is": ["milvus", "push", "--index", str(fake_index)],
    }
    for expected, argv in cases.items():
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("passage-search: ") and expected in err and err.count("\n") == 1, err


@pytest.mark.model
def test_real_index_hybrid_results_are_identical(milvus, real_index, real_embedder, real_searcher):
    push(real_index, milvus, "real")
    ours = Searcher(real_index, embedder=real_embedder, vectors=opener("milvus", milvus, "real"))
    questions = [json.loads(line)["question"] for line in Path(SEED_QUESTIONS).read_text("utf-8").splitlines() if line]
    assert len(questions) >= 20
    for question in questions:
        _same_hits(ours, real_searcher, question, 10)
