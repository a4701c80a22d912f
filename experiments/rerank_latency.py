"""The rerank stage's latency per question: window x depth N x threads, on real fused hits.

    python experiments/rerank_latency.py /work/models/rerank-a [--files model_int8.onnx model.onnx]
        [--windows 128 192 256] [--depths 5 10 20 30] [--threads 1 2]

Questions: the tune parts of cancergov_lay and cancergov_blind; passages: their fused hybrid top N, as the
search reranks them (``embedding_text``). Each figure is the wall time of ``OnnxReranker.score`` (tokenise +
one ONNX Runtime batch), p50 and p95 over the questions, after one untimed call. Latency does not depend on
the trained weights, only on the network, the file (fp32/int8), the window, N and the threads.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from train_eval import tune_sets  # the sibling script: the same sets, split the same way

from passage_search.eval.evaluate import EVAL_OUT, percentile, prepare_index
from passage_search.passage import embedding_text
from passage_search.rerank.onnx_reranker import OnnxReranker
from passage_search.search.searcher import Searcher


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--files", nargs="+", default=["model_int8.onnx"])
    ap.add_argument("--windows", type=int, nargs="+", default=[128, 192, 256])
    ap.add_argument("--depths", type=int, nargs="+", default=[5, 10, 20, 30])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    questions: list[tuple[str, list[str]]] = []
    for name, dataset in tune_sets():
        if name not in ("cancergov_lay", "cancergov_blind"):
            continue
        info, emb = prepare_index(dataset, EVAL_OUT / ".cache")
        searcher = Searcher(info.path, embedder=emb)
        for text in dataset.queries.values():
            hits = searcher.search(text, max(args.depths)).hits
            questions.append((searcher.analyze(text).text, [embedding_text(h.passage) for h in hits]))
    out = {}
    for file in args.files:
        for window in args.windows:
            for threads in args.threads:
                reranker = OnnxReranker(args.folder, onnx_file=file, max_length=window, threads=threads)
                reranker.score(*questions[0])  # session start, untimed
                for n in args.depths:
                    times = []
                    for question, texts in questions:
                        started = time.perf_counter()
                        reranker.score(question, texts[:n])
                        times.append((time.perf_counter() - started) * 1000)
                    key = f"{file} window {window} threads {threads} N {n}"
                    out[key] = {"p50": round(percentile(times, 50), 1), "p95": round(percentile(times, 95), 1)}
                    row = f"| {file} | {window} | {threads} | {n} | {out[key]['p50']} | {out[key]['p95']} |"
                    print(row, flush=True)
    if args.json:
        args.json.write_text(json.dumps({"questions": len(questions), "latency_ms": out}, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
