"""Vector search at scale: build time, memory, latency and recall of each index type against flat.

    python -m passage_search.bench.scale [--quick] [--sizes 10000,100000,1000000] [--json OUT]

The vectors are synthetic, 384-d and L2-normalised, from a clustered distribution: a mixture of
Gaussian clusters (one per ``PER_CENTRE`` vectors, at most ``MAX_CENTRES``: topics of about the same
size at every scale) on the sphere whose spread lies mostly in a shared 64-d subspace (text
embeddings are far from uniform on the sphere; uniform random vectors are the worst case for ANN and
say little about real corpora). Queries are fresh draws from the same mixture, not corpus points.
Exact flat search runs in the same process as the baseline for recall and for the latency ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from passage_search.index import ann
from passage_search.index.topk import knn

DIMENSION = 384
PER_CENTRE = 200
MAX_CENTRES = 5000
RANK = 64
TOPICS_PER_SUBJECT = 20
SUBJECT_SPREAD = 0.6
SWEEP = {"hnsw": ("efSearch", (16, 32, 64, 128, 256)), "ivf": ("nprobe", (8, 16, 32, 48, 64, 128))}
DATA_NOTE = (
    f"synthetic clustered vectors: n/{PER_CENTRE} (<= {MAX_CENTRES}) Gaussian clusters, spread mostly in a "
    f"shared {RANK}-d subspace, {DIMENSION}-d, L2-normalised; queries drawn from the same mixture (not corpus points)"
)


def centres_for(n: int) -> int:
    return max(8, min(MAX_CENTRES, n // PER_CENTRE))


def clustered(
    n: int, *, centres: int, dimension: int = DIMENSION, seed: int = 0, stream: int = 0
) -> np.ndarray:
    """``n`` L2-normalised vectors from a mixture of ``centres`` clusters; ``stream`` picks independent draws."""
    base = np.random.default_rng([seed, centres])  # the mixture itself: the same for a corpus and its queries
    # Clusters of clusters: topics within broader subjects, so neighbouring clusters overlap.
    subjects = _unit(base.standard_normal((max(4, centres // TOPICS_PER_SUBJECT), dimension)))
    offsets = _unit(base.standard_normal((centres, dimension))) * np.float32(SUBJECT_SPREAD)
    means = _unit(subjects[base.integers(len(subjects), size=centres)] + offsets)
    basis = np.linalg.qr(base.standard_normal((dimension, min(RANK, dimension))))[0].astype(np.float32)
    spread = base.uniform(0.5, 1.0, centres).astype(np.float32)
    rng = np.random.default_rng([seed, stream + 1])
    out = np.empty((n, dimension), dtype=np.float32)
    for start in range(0, n, 65536):
        m = min(65536, n - start)
        label = rng.integers(centres, size=m)
        x = rng.standard_normal((m, basis.shape[1]), dtype=np.float32) @ basis.T
        x *= (spread[label] / np.sqrt(basis.shape[1]))[:, None]
        x += rng.standard_normal((m, dimension), dtype=np.float32) * np.float32(0.25 / np.sqrt(dimension))
        x += means[label]
        out[start : start + m] = _unit(x)
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def rss() -> int:
    """This process's resident memory in bytes (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def serialised_bytes(index: Any) -> int:
    import faiss

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.faiss"
        faiss.write_index(index, str(path))
        return path.stat().st_size


def latency(index: Any, queries: np.ndarray, k: int) -> tuple[dict[str, float], list[list[int]]]:
    """Percentiles (ms) of one-question searches through ``knn``, and the rows found."""
    for q in queries[:10]:  # warm up caches and the OpenMP pool
        knn(index, q[None, :], k)
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        hits = knn(index, q[None, :], k)[0]
        times.append((time.perf_counter() - start) * 1000)
        found.append([row for row, _ in hits])
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(np.mean(times))}, found


def recall(found: list[list[int]], truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth, strict=True)]))


def timed(index: Any, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    at10, found10 = latency(index, queries, 10)
    at100, found100 = latency(index, queries, 100)
    return {
        "k10_ms": at10,
        "k100_ms": at100,
        "recall@10": recall(found10, truth, 10),
        "recall@100_at_k100": recall(found100, truth, 100),
    }


def build_within(data: np.ndarray, spec: ann.IndexSpec, budget: float) -> tuple[Any, float, int]:
    """Build in chunks so a build that would take longer than ``budget`` seconds stops early."""
    start = time.perf_counter()
    index = ann.empty(spec, data.shape[1])
    if not index.is_trained:
        index.train(data)
    added = 0
    for lo in range(0, len(data), 50_000):
        index.add(data[lo : lo + 50_000])
        added = min(len(data), lo + 50_000)
        if time.perf_counter() - start > budget and added < len(data):
            break
    return index, time.perf_counter() - start, added


def run_size(
    n: int, kinds: Sequence[str], n_queries: int, threads: int, budget: float, log: Any, compare_threads: bool = False
) -> dict[str, Any]:
    import faiss

    default_threads = faiss.omp_get_max_threads()
    start = time.perf_counter()
    data = clustered(n, centres=centres_for(n))
    queries = clustered(n_queries, centres=centres_for(n), stream=1)
    log(f"n={n}: data in {time.perf_counter() - start:.1f} s")
    out: dict[str, Any] = {}
    flat: Any = None
    truth = np.zeros((0, 0), dtype=np.int64)
    for kind in ["flat", *[k for k in kinds if k != "flat"]]:
        spec = ann.choose(n, kind)
        ann.set_threads(default_threads)  # building uses every core
        before = rss()
        index, seconds, added = build_within(data, spec, budget if kind == "hnsw" else float("inf"))
        grown = rss() - before
        if added < n:
            out[kind] = {
                "params": spec.params,
                "skipped": f"build exceeded {budget:.0f} s after {added} of {n} vectors",
                "build_s": seconds,
                "projected_build_s": seconds * n / max(added, 1),
            }
            log(f"n={n} {kind}: {out[kind]['skipped']}")
            del index
            continue
        if kind == "flat":
            flat = index
            truth = flat.search(queries, min(100, n))[1]  # exact answers, batched on every core
        ann.set_threads(threads)
        row: dict[str, Any] = {
            "params": spec.params,
            "build_s": seconds,
            "bytes_per_passage": serialised_bytes(index) / n,
            "rss_per_passage": grown / n,
        }
        row.update(timed(index, queries, truth))
        if compare_threads:  # the same searches with FAISS's default thread count, for comparison
            ann.set_threads(default_threads)
            row[f"threads_{default_threads}"] = timed(index, queries, truth)
            ann.set_threads(threads)
        if kind in SWEEP:
            name, values = SWEEP[kind]
            row["sweep"] = []
            for value in values:
                ann.configure(index, ann.IndexSpec(kind, {**spec.params, name: value}))
                row["sweep"].append({name: value, **timed(index, queries, truth)})
            ann.configure(index, spec)
        out[kind] = row
        log(f"n={n} {kind}: built in {seconds:.1f} s, p95@k10 {row['k10_ms']['p95']:.2f} ms, "
            f"recall@10 {row['recall@10']:.3f}")
        if index is not flat:
            del index
    del flat
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    head = ("n", "type", "params", "build s", "B/passage", "RSS B/p", "p50", "p95", "p99", "p95@k100",
            "recall@10", "recall@100", "p95 vs flat")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for n, kinds in results.items():
        flat95 = kinds["flat"]["k10_ms"]["p95"]
        for kind, r in kinds.items():
            params = ",".join(f"{k}={v}" for k, v in r["params"].items()) or "-"
            if "skipped" in r:
                lines.append(f"{n} | {kind} | {params} | {r['skipped']} (projected {r['projected_build_s']:.0f} s)")
                continue
            ms = r["k10_ms"]
            lines.append(" | ".join([
                str(n), kind, params, f"{r['build_s']:.1f}", f"{r['bytes_per_passage']:.0f}",
                f"{r['rss_per_passage']:.0f}", f"{ms['p50']:.2f}", f"{ms['p95']:.2f}", f"{ms['p99']:.2f}",
                f"{r['k100_ms']['p95']:.2f}", f"{r['recall@10']:.3f}", f"{r['recall@100_at_k100']:.3f}",
                f"{ms['p95'] / flat95:.3f}",
            ]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m passage_search.bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (2,000 and 10,000): a smoke test")
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated corpus sizes")
    p.add_argument("--types", default="flat,hnsw,ivf", help="index types to compare with flat")
    p.add_argument("--queries", type=int, default=200, help="single questions timed per setting (>= 200)")
    p.add_argument("--threads", type=int, default=1, help="FAISS threads at query time (serving uses 1)")
    p.add_argument("--compare-threads", action="store_true", help="also time with FAISS's default threads")
    p.add_argument("--max-build-seconds", type=float, default=1500, help="give up an HNSW build after this")
    p.add_argument("--json", type=Path, default=Path("bench-out/scale.json"), help="where to write the results")
    args = p.parse_args(argv)
    sizes = [2000, 10000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    kinds = [k for k in args.types.split(",") if k]
    for kind in kinds:
        ann.choose(1, kind)  # refuse an unknown type before any work

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(DATA_NOTE)
    results: dict[str, dict[str, Any]] = {}
    for n in sizes:
        results[str(n)] = run_size(
            n, kinds, args.queries, args.threads, args.max_build_seconds, log, args.compare_threads
        )
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"data": DATA_NOTE, "threads": args.threads, "cpus": os.cpu_count(),
                  "loadavg_at_end": os.getloadavg(), "auto_flat_max": ann.FLAT_MAX, "results": results}
        args.json.write_text(json.dumps(report, indent=2) + "\n")  # after every size, so a long run keeps its work
    print(f"Data: {DATA_NOTE}. Query latency in ms, one question at a time, {args.threads} FAISS thread(s), "
          f"k=10 unless marked; recall against exact flat search.\n")
    print(table(results))
    print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
