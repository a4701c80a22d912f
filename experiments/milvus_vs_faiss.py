"""Passage vectors in Milvus (a Milvus Lite server on 127.0.0.1) against FAISS: push speed and query latency.

    python bench/milvus_vs_faiss.py [--index index/] [--medquad ../shared/data/medquad] [-n 200] [--uri URI]

Prints, warm, one question at a time, k = 10 (one FAISS thread, as the page and CLI run):
  - the bundled index (real model): dense and hybrid ``Searcher.search`` p50/p95 with the vectors in FAISS
    and in Milvus, and the vector search stage alone;
  - MedQuAD text (about 30k passages) indexed with 384-d word-hash vectors (no model: built in a minute),
    questions from cancergov: the same, plus push vectors/s and top-10 agreement of the dense results;
  - 30,000 random L2-normalised 384-d vectors: push vectors/s, vector search p50/p95 at k = 10 and 100
    (hybrid's candidate depth), top-10 agreement with FAISS Flat;
  - Milvus's own BM25 (a BM25 function over our analysed terms of the MedQuAD passages) against the local
    bm25s index: top-10 agreement and latency.
Without --uri a Milvus Lite server is started on a free port and stopped at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Word-hash vectors (tests/conftest.py's FakeEmbedder at 384-d): texts sharing words are close."""

    name, fingerprint, dimension, max_tokens = "hash-384", "hash-384", 384, 200

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[row, int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big") % self.dimension] += 1
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def timed(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    """p50 and p95 milliseconds of ``fn(0) ... fn(n - 1)``."""
    from passage_search.eval.evaluate import percentile

    ms = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        ms.append((time.perf_counter() - start) * 1000)
    return float(np.median(ms)), percentile(ms, 95)


def overlap(a: list[list[Hashable]], b: list[list[Hashable]], k: int = 10) -> float:
    """Mean share of each of ``b``'s top-k that ``a``'s top-k holds too."""
    return float(np.mean([len(set(x[:k]) & set(y[:k])) / max(1, len(y[:k])) for x, y in zip(a, b, strict=True)]))


def rows(found: list[list[tuple[int, float]]]) -> list[list[Hashable]]:
    return [[r for r, _ in ranking] for ranking in found]


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    from passage_search.bench.common import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder), "--host", "127.0.0.1",
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("milvus-lite did not start")


def compare_searchers(label: str, index: Path, uri: str, questions: list[str], n: int, embedder=None) -> None:
    from passage_search.backends.milvus_push import push
    from passage_search.backends.milvus_store import opener
    from passage_search.search.searcher import Searcher

    s = push(index, uri, "bench_" + label)
    print(f"{label}: pushed {s.rows} vectors in {s.seconds:.1f} s ({s.vectors_per_second:,.0f} vectors/s)")
    local = Searcher(index, embedder=embedder)
    served = Searcher(index, embedder=local.embedder, vectors=opener("milvus", uri, "bench_" + label))
    for mode in ("dense", "hybrid"):
        found = [[[h.passage.id for h in x.search(q, 10, mode=mode)] for q in questions] for x in (served, local)]
        print(f"  {mode} top-10 agreement, Milvus vs FAISS, {len(questions)} questions: {overlap(*found):.4f}")
    for mode in ("dense", "hybrid"):
        for name, searcher in (("faiss", local), ("milvus", served)):
            stage: dict[str, float] = {}

            def one(i: int, searcher=searcher, mode=mode, stage=stage) -> None:
                searcher.search_batch([questions[i % len(questions)]], 10, mode=mode, timings=stage)

            p50, p95 = timed(one, n)
            print(f"  {mode:6} {name:6} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms   vector search mean "
                  f"{stage['dense'] / n:6.2f} ms")


def random_vectors(uri: str, n: int, rounds: int) -> None:
    import faiss

    from passage_search.backends.milvus_push import push_vectors
    from passage_search.backends.milvus_store import MilvusVectors, StoreIdentity
    from passage_search.index.topk import knn

    rng = np.random.default_rng(0)
    corpus = rng.standard_normal((n, 384)).astype(np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    queries = rng.standard_normal((rounds, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    identity = StoreIdentity("random", "random-384", 384, "random", n, "random")
    s = push_vectors(uri, "bench_random", corpus, [str(i) for i in range(n)], identity)
    print(f"random {n}x384: pushed in {s.seconds:.1f} s ({s.vectors_per_second:,.0f} vectors/s)")
    store = MilvusVectors(uri, "bench_random", identity)
    flat = faiss.IndexFlatIP(384)
    flat.add(corpus)
    agree = overlap(rows(knn(store, queries, 10)), rows(knn(flat, queries, 10)))
    print(f"  top-10 agreement with FAISS Flat, {rounds} questions: {agree:.4f}")
    for k in (10, 100):
        for name, index in (("faiss", flat), ("milvus", store)):
            p50, p95 = timed(lambda i, index=index, k=k: knn(index, queries[i : i + 1], k), rounds)
            print(f"  k={k:<3} {name:6} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")


def milvus_bm25(uri: str, index: Path, questions: list[str], n: int) -> None:
    """Milvus's BM25 function fed our analysed terms (Milvus Lite has no stemmer), against bm25s."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    from passage_search.analysis import analyze
    from passage_search.index.lexical import lexical_text
    from passage_search.search.searcher import Searcher

    searcher = Searcher(index, embedder=HashEmbedder())
    client = MilvusClient(uri=uri)
    name = "bench_bm25"
    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("terms", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                 output_field_names=["sparse"]))
    params = client.prepare_index_params()
    params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=params)
    started = time.perf_counter()
    texts = [" ".join(analyze(lexical_text(p), searcher.vocabulary))[:60000] for p in searcher.passages]
    for lo in range(0, len(texts), 1000):
        client.insert(name, [{"row": r, "terms": texts[r]} for r in range(lo, min(lo + 1000, len(texts)))])
    client.flush(name)
    print(f"Milvus BM25 over {len(texts)} passages: analysed and inserted in {time.perf_counter() - started:.1f} s")
    forms = [searcher.analyze(q) for q in questions]
    local = [searcher.index.lexical.search(f.terms, 10) for f in forms]

    def remote(f) -> list[tuple[int, float]]:
        hits = client.search(name, data=[" ".join(f.terms)], anns_field="sparse", limit=10,
                             search_params={"metric_type": "BM25"}, output_fields=["row"])[0]
        return [(int(h["row"]), float(h["distance"])) for h in hits]

    print(f"  top-10 agreement with local bm25s: {overlap(rows([remote(f) for f in forms]), rows(local)):.4f}")
    for label, fn in (("local bm25s", lambda f: searcher.index.lexical.search(f.terms, 10)), ("milvus", remote)):
        p50, p95 = timed(lambda i, fn=fn: fn(forms[i % len(forms)]), n)
        print(f"  {label:11} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=ROOT / "index")
    ap.add_argument("--medquad", type=Path, default=DATA / "medquad")
    ap.add_argument("--questions", type=Path, default=DATA / "cancergov" / "queries.jsonl")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "milvus-bench")
    ap.add_argument("-n", type=int, default=200, help="questions timed per case")
    ap.add_argument("--random", type=int, default=30_000, help="random vectors pushed (0: skip)")
    ap.add_argument("--uri", default=None, help="a running Milvus (default: start Milvus Lite)")
    ap.add_argument("--parts", default="bundled,random,medquad,bm25", help="which parts to run (default: all)")
    args = ap.parse_args()

    from passage_search.index.build import build_index
    from passage_search.search.model import serve_one_question_at_a_time

    serve_one_question_at_a_time()
    args.work.mkdir(parents=True, exist_ok=True)
    proc = None
    uri = args.uri
    if uri is None:
        folder = Path(tempfile.mkdtemp(prefix="milvus-data-", dir=args.work))
        proc, uri = start_server(folder)
    try:
        parts = set(args.parts.split(","))
        if "bundled" in parts:
            lines = (ROOT / "tests/data/seed_questions.jsonl").read_text().splitlines()
            compare_searchers("bundled", args.index, uri, [json.loads(x)["question"] for x in lines], args.n)
        if "random" in parts and args.random:
            random_vectors(uri, args.random, args.n)
        if parts & {"medquad", "bm25"} and args.medquad.is_dir():
            medquad = args.work / "medquad-hash384"
            started = time.perf_counter()
            result = build_index(args.medquad, medquad, embedder=HashEmbedder(), index_type="flat", force=False)
            print(f"medquad index: {result.passages} passages ({time.perf_counter() - started:.0f} s to build/check)")
            questions = [json.loads(x)["text"] for x in args.questions.read_text().splitlines() if x][:200]
            if "medquad" in parts:
                compare_searchers("medquad", medquad, uri, questions, args.n, embedder=HashEmbedder())
            if "bm25" in parts:
                milvus_bm25(uri, medquad, questions, args.n)
    finally:
        if proc is not None:
            from passage_search.bench.common import stop

            stop(proc, timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
