"""Warm single-question latency of each search mode on an index, with the question set of the seed corpus.

    python bench/query_latency.py [--index index/] [-n 100] [--threads 1]

Prints the median and 95th percentile of end-to-end ``Searcher.search`` time (question analysis,
encoding, vector search, BM25, fusion) per mode and the share spent encoding the question.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=ROOT / "index")
    ap.add_argument("--questions", type=Path, default=ROOT / "tests" / "data" / "seed_questions.jsonl")
    ap.add_argument("-n", type=int, default=100, help="questions timed per mode (the set is cycled)")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = ap.parse_args()

    from passage_search.embed.embedder import set_torch_threads
    from passage_search.eval.evaluate import percentile
    from passage_search.search.searcher import MODES, Searcher

    if args.threads:
        set_torch_threads(args.threads)
    import torch

    questions = [json.loads(line)["question"] for line in args.questions.read_text("utf-8").splitlines() if line]
    searcher = Searcher(args.index)
    for q in questions[:5]:
        searcher.search(q, args.k)  # warm-up: first encodes are slow
    print(f"index {args.index} ({len(searcher.passages)} passages), torch threads {torch.get_num_threads()}, "
          f"{args.n} questions per mode, k={args.k}")
    for mode in MODES:
        total, encode = [], []
        for i in range(args.n):
            q = questions[i % len(questions)]
            start = time.perf_counter()
            searcher.search(q, args.k, mode=mode)
            total.append((time.perf_counter() - start) * 1000)
            if mode != "lexical":
                start = time.perf_counter()
                searcher.embedder.embed([q])
                encode.append((time.perf_counter() - start) * 1000)
        enc = f", encode alone p50 {statistics.median(encode):.1f} ms" if encode else ""
        print(f"{mode:8} p50 {statistics.median(total):6.1f} ms  p95 {percentile(total, 95):6.1f} ms{enc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
