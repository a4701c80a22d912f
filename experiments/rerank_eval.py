"""Hybrid (and dense) search with and without the cross-encoder reranker, on the TUNE parts only.

    python experiments/rerank_eval.py /work/models/rerank-a [--variant model_int8.onnx:192 model.onnx:192]
        [--depths 10 20 30] [--blends 0 1] [--json out.json]

The sets are those of ``train_eval.py`` (seed, sarcoma_blind, cancergov_lay, cancergov_blind, cancergov_dev;
tune parts, document level, the packaged embedding model). Each question is searched once per mode as
``passage-search eval`` does (300 passages, then the best passage per document); the reranker scores the
fused top max(depths) passages once per variant, and each depth N and blend is then the same reordering
``Searcher`` applies (``search.reorder.rerank_hits``), so one scoring serves every N. Latency: the rerank
stage alone (tokenise + one ONNX Runtime batch of N pairs, one thread, as a search runs it) per question of
cancergov_lay and cancergov_blind, p50 and p95. Test parts are never scored.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from train_eval import tune_sets  # the sibling script: the same sets, split the same way

from passage_search.errors import IndexMismatchError
from passage_search.eval.evaluate import EVAL_OUT, _best_per_document, percentile, prepare_index, score
from passage_search.passage import Hit, embedding_text
from passage_search.rerank.onnx_reranker import OnnxReranker
from passage_search.search.reorder import rerank_hits
from passage_search.search.searcher import Searcher

MODES = ("hybrid", "dense")
DEPTH = 300  # passages per question, as passage-search eval with k=100
METRICS = ("ndcg@10", "hit_rate@1")


class Lookup:
    """A reranker that returns scores computed earlier for this question's passages."""

    name = "lookup"

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.scores[t] for t in texts], dtype=np.float32)


def ranking(hits: Sequence[Hit]) -> list[str]:
    return [h.passage.doc_id for h in _best_per_document(hits)][:100]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="reranker folder (passage-search train --reranker)")
    ap.add_argument("--variant", nargs="+", default=["model_int8.onnx:192"], help="ONNX_FILE:MAX_LENGTH ...")
    ap.add_argument("--depths", type=int, nargs="+", default=[10, 20, 30])
    ap.add_argument("--blends", type=float, nargs="+", default=[0.0])
    ap.add_argument("--sets", nargs="+", default=None, help="only these sets")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--latency", action="store_true", help="also time the rerank stage per N (one thread)")
    ap.add_argument("--cache", type=Path, default=EVAL_OUT / ".cache")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    variants = {v: OnnxReranker(args.folder, onnx_file=v.split(":")[0], max_length=int(v.split(":")[1]), threads=2)
                for v in args.variant}
    top = max(args.depths)
    figures: dict[str, dict[str, dict[str, float]]] = {}  # set -> column -> metric
    counts: dict[str, int] = {}
    latency_questions: list[tuple[str, list[str]]] = []
    cache: dict[str, dict[tuple[str, str], float]] = {label: {} for label in variants}  # dense and hybrid share
    for name, dataset in tune_sets():
        if args.sets and name not in args.sets:
            continue
        started = time.perf_counter()
        info, emb = prepare_index(dataset, args.cache)
        try:
            searcher = Searcher(info.path, embedder=emb)
        except IndexMismatchError:  # a cached index from an older format: rebuild it, as run_eval does
            info, emb = prepare_index(dataset, args.cache, rebuild=True)
            searcher = Searcher(info.path, embedder=emb)
        counts[name] = len(dataset.queries)
        for mode in args.modes:
            found = {qid: (searcher.analyze(text).text, searcher.search(text, DEPTH, mode=mode).hits)
                     for qid, text in dataset.queries.items()}
            columns = {f"{mode}": {qid: ranking(hits) for qid, (_q, hits) in found.items()}}
            if mode == "hybrid" and name in ("cancergov_lay", "cancergov_blind"):
                latency_questions += [(q, [embedding_text(h.passage) for h in hits[:top]])
                                      for q, hits in found.values()]
            for label, reranker in variants.items():
                seen = cache[label]
                scored = {}
                for qid, (q, hits) in found.items():
                    texts = [embedding_text(h.passage) for h in hits[:top]]
                    new = [t for t in dict.fromkeys(texts) if (q, t) not in seen]
                    seen.update(zip([(q, t) for t in new], reranker.score(q, new).tolist(), strict=True))
                    scored[qid] = {t: seen[(q, t)] for t in texts}
                for n in args.depths:
                    for blend in args.blends:
                        key = f"{mode}+rr[{label} N{n}" + (f" b{blend:g}" if blend else "") + "]"
                        columns[key] = {qid: ranking(rerank_hits(q, hits, Lookup(scored[qid]), depth=n, blend=blend))
                                        for qid, (q, hits) in found.items()}
            for key, rankings in columns.items():
                per_query = score(dataset.qrels, rankings, METRICS)
                figures.setdefault(name, {})[key] = {
                    m: round(float(np.mean([per_query[q][m] for q in per_query])), 4) for m in METRICS}
        print(f"{name} ({counts[name]}): {time.perf_counter() - started:.0f} s", flush=True)

    keys = list(dict.fromkeys(k for f in figures.values() for k in f))
    print("\nTUNE parts only; nDCG@10 / Hit@1")
    print("| column | " + " | ".join(f"{n} ({counts[n]})" for n in figures) + " |")
    print("|---|" + "---|" * len(figures))
    for key in keys:
        cells = [f"{figures[n][key]['ndcg@10']:.3f} / {figures[n][key]['hit_rate@1']:.3f}" for n in figures]
        print(f"| {key} | " + " | ".join(cells) + " |")
    latency: dict[str, dict[str, float]] = {}
    if args.latency and latency_questions:
        for label in variants:
            file, length = label.split(":")
            one = OnnxReranker(args.folder, onnx_file=file, max_length=int(length), threads=1)
            one.score(*latency_questions[0])  # session start, untimed
            for n in args.depths:
                times = []
                for q, texts in latency_questions:
                    t = time.perf_counter()
                    one.score(q, texts[:n])
                    times.append((time.perf_counter() - t) * 1000)
                latency[f"{label} N{n}"] = {"p50": round(percentile(times, 50), 1),
                                            "p95": round(percentile(times, 95), 1), "n": len(times)}
                print(f"rerank stage {label} N{n}: p50 {latency[f'{label} N{n}']['p50']} ms, "
                      f"p95 {latency[f'{label} N{n}']['p95']} ms ({len(times)} questions, 1 thread)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"counts": counts, "figures": figures, "latency": latency}, indent=2) + "\n",
                             "utf-8")


if __name__ == "__main__":
    main()
