"""python -m passage_search.bench [--quick] [--corpus PATH] [--only build query scale page integrity ray] [--json OUT]

Prints a table and writes JSON. Every part runs a baseline in the same process (plain
sentence-transformers encode + FAISS Flat, as a newcomer would write it) and reports ratios to it,
because these machines are noisy. The ``ray`` part (a local build against a Ray build of the same
documents, by default the first 300) runs only when asked for with ``--only``. The ``integrity`` part times
loading with and without the integrity checks, on the index just built or on ``--index``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from passage_search.bench.common import REPO, SHARED, questions

PARTS = ("build", "query", "scale", "page", "integrity")
# Asked for by name only: it needs the [distributed] extra, and its figures answer another question.
EXTRA_PARTS = ("ray",)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m passage_search.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run in under a minute: tiny sizes, no page")
    ap.add_argument("--corpus", type=Path, default=SHARED / "medquad" / "corpus.jsonl",
                    help="a BEIR corpus.jsonl (default: ../shared/data/medquad; the seed corpus if it is absent)")
    ap.add_argument("--docs", type=int, default=None, help="only the first N documents of the corpus")
    ap.add_argument("--only", nargs="+", choices=PARTS + EXTRA_PARTS, default=None, help="run only these parts")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--page-runs", type=int, default=20)
    ap.add_argument("--baseline-sample", type=int, default=3000,
                    help="passages the baseline encodes to measure its passages/s")
    ap.add_argument("--backend", default=None, help="embedding backend for our build and queries (default: ours)")
    ap.add_argument("--reranker", type=Path, default=None,
                    help="reranker folder: the query part also times hybrid with it on")
    ap.add_argument("--rerank-depth", type=int, default=20, help="fused hits the reranker rescores (default: 20)")
    ap.add_argument("--scale-sizes", default="10000,100000,1000000")
    ap.add_argument("--workdir", type=Path, default=None, help="where indexes are built (default: a temp folder)")
    ap.add_argument("--index", type=Path, default=None,
                    help="an index already built, for the integrity part (default: the one the build part builds)")
    ap.add_argument("--json", type=Path, default=REPO / "bench-out" / "bench.json")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    parts = args.only or (["build", "query", "scale"] if args.quick else list(PARTS))
    if args.quick:
        args.docs = args.docs or 60
        args.queries = min(args.queries, 20)
        args.baseline_sample = min(args.baseline_sample, 100)
        args.page_runs = min(args.page_runs, 3)
        args.scale_sizes = "2000,10000"
    corpus = args.corpus
    if not corpus.exists():
        corpus = REPO / "corpus"
        args.docs = None
    if not corpus.exists():
        print(f"passage-search bench: no corpus at {args.corpus} or {corpus}; pass --corpus PATH.", file=sys.stderr)
        return 1
    report: dict[str, Any] = {"machine": {"python": platform.python_version(), "cpus": _cpus()},
                              "corpus": str(corpus), "quick": args.quick}
    with tempfile.TemporaryDirectory(prefix="passage-search-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        from passage_search.bench.build_bench import run_build, subset_corpus

        source = corpus
        corpus = subset_corpus(corpus, args.docs, workdir)
        index = workdir / "index"
        asked = questions(args.queries)
        needs_build = "query" in parts or "page" in parts or ("integrity" in parts and args.index is None)
        if "build" in parts or needs_build:
            print(f"building {corpus} ...", flush=True)
            report["build"] = run_build(corpus, workdir, baseline_sample=args.baseline_sample, backend=args.backend)
            _print_build(report["build"])
        if "query" in parts:
            from passage_search.bench.query_bench import run_queries

            report["query"] = run_queries(index, asked, backend=args.backend, reranker=args.reranker,
                                          rerank_depth=args.rerank_depth)
            _print_query(report["query"])
        if "scale" in parts:
            report["scale"] = _run_scale(args.scale_sizes, workdir, quick=args.quick)
        if "page" in parts:
            from passage_search.bench.page_bench import run_page

            report["page"] = run_page(index, asked, runs=args.page_runs)
            _print_page(report["page"])
        if "integrity" in parts:
            from passage_search.bench.integrity_bench import print_integrity, run_integrity

            report["integrity"] = run_integrity(args.index or index, runs=3 if args.quick else 5)
            print_integrity(report["integrity"])
        if "ray" in parts:
            from passage_search.bench.ray_bench import RAY_DOCS, print_ray, run_ray

            ray_dir = workdir / "ray"
            ray_corpus = subset_corpus(source, args.docs or RAY_DOCS, ray_dir)
            print(f"building {ray_corpus} locally and on Ray ...", flush=True)
            report["ray"] = run_ray(ray_corpus, ray_dir, backend=args.backend)
            print_ray(report["ray"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _run_scale(sizes: str, workdir: Path, *, quick: bool) -> dict[str, Any]:
    out = workdir / "scale.json"
    cmd = [sys.executable, "-m", "passage_search.bench.scale", "--json", str(out)]
    cmd += ["--quick"] if quick else ["--sizes", sizes]
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    data: dict[str, Any] = json.loads(out.read_text())
    data["seconds"] = round(time.perf_counter() - started, 1)
    return data


def _print_build(b: dict[str, Any]) -> None:
    base = b["baseline"]
    print(f"\nBUILD  {b['documents']} documents -> {b['passages']} passages, backend {b['backend']}, "
          f"index {b['index_type']}")
    print(f"  ours     {b['passages_per_s']:8.1f} passages/s end to end ({b['full_build_s']} s), peak RSS "
          f"{b['peak_rss_mb']:.0f} MB, {b['index_bytes_per_passage']} bytes/passage on disk")
    print(f"  baseline {base['passages_per_s']:8.1f} passages/s (encode + Flat add, {base['sample_passages']} "
          f"passages)   ratio {b['ratio_passages_per_s']}x")
    u, c = b["unchanged_rebuild"], b["one_document_changed"]
    print(f"  unchanged rebuild: {u['seconds']} s ({u['share_of_full']:.1%} of full), embedded {u['embedded']}")
    print(f"  one document changed: {c['seconds']} s, embedded {c['embedded']} "
          f"(the document has {c['document_passages']} passages)")


def _print_query(q: dict[str, Any]) -> None:
    print(f"\nQUERY  {q['questions']} questions, k={q['k']}, {q['passages']} passages, one client thread (ms)")
    print(f"  {'mode':13}{'p50':>8}{'p95':>8}{'p99':>8}   stages p50")
    for mode in ("hybrid", "hybrid+rerank", "dense", "lexical", "baseline"):
        if mode not in q:
            continue
        t = q[mode]["total_ms"]
        stages = " ".join(f"{k} {v['p50']:.2f}" for k, v in q[mode].get("stages_ms", {}).items())
        print(f"  {mode:13}{t['p50']:8.2f}{t['p95']:8.2f}{t['p99']:8.2f}   {stages}")
    print(f"  hybrid / baseline: p50 {q['ratio_hybrid_p50']}x, p95 {q['ratio_hybrid_p95']}x")
    r = q["vector_recall_vs_exact"]
    print(f"  vector index {r['index_type']} {r['index_params']}: "
          + ", ".join(f"{k} {v}" for k, v in r.items() if k.startswith("recall")) + " against exact search")


def _print_page(p: dict[str, Any]) -> None:
    if "skipped" in p:
        print(f"\nPAGE skipped: {p['skipped']}")
        return
    e, s = p["enter_to_first_card_ms"], p["search_only_ms"]
    print(f"\nPAGE  started with {p['launch']}: start -> healthy {p['start_to_healthy_s']} s; a shared link "
          f"(?q=) opened then in a fresh browser context: healthy -> first card {p['healthy_to_first_card_s']} s, "
          f"{p['healthy_to_navigation_s']} s of it the browser opening the link (start -> first card "
          f"{p['start_to_first_card_s']} s)")
    b = p["baseline_page_enter_to_first_card_ms"]
    print(f"  Enter -> first result card: p50 {e['p50']:.0f} ms, p95 {e['p95']:.0f} ms ({e['runs']} runs)")
    print(f"  search only, same questions:  p50 {s['p50']:.1f} ms, p95 {s['p95']:.1f} ms   "
          f"ratio p50 {p['ratio_enter_to_search_p50']}x")
    print(f"  baseline page (a box and cards), Enter -> first card: p50 {b['p50']:.0f} ms, p95 {b['p95']:.0f} ms   "
          f"ratio p50 {p['ratio_enter_to_baseline_page_p50']}x")


if __name__ == "__main__":
    sys.exit(main())
