"""Choose the hybrid fusion settings by 5-fold cross-validation, and print an ablation table.

    python bench/tune_fusion.py ../shared/data/cancergov --also tests/data/cancergov_lay [--index DIR]

For every query the three retrievers (dense passages, dense headings, BM25) are run once per query
analysis setting; every fusion setting of the grid is then scored at document level (a document ranks
by its best passage) with ranx. Each query set is cut into five folds; a setting is chosen on four folds
of every set (objective: the unweighted mean of the sets' nDCG@10, so 95 lay questions count as much as
683 templated ones) and scored on the fifth. The figures to quote are the held-out folds' means.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from passage_search.eval.beir import Dataset, load_beir  # noqa: E402
from passage_search.eval.evaluate import prepare_index  # noqa: E402
from passage_search.search.config import SearchConfig  # noqa: E402
from passage_search.search.fusion import fuse
from passage_search.search.searcher import Searcher

DEPTH = 100


def grid() -> list[SearchConfig]:
    base = SearchConfig()
    out = []
    weights = [0.0, 0.25, 0.5, 0.75, 1.0]
    for wh, wl, dense_terms in itertools.product(weights, weights, (False, True)):
        cfg = replace(base, heading_weight=wh, lexical_weight=wl, expand_dense=dense_terms)
        for k in (10, 30, 60, 100):
            out.append(replace(cfg, fusion="rrf", rrf_k=k))
        out.append(replace(cfg, fusion="convex"))
        out.append(replace(cfg, fusion="dbsf"))
    return out


def doc_run(searcher: Searcher, rankings: list[dict], ids: list[str], cfg: SearchConfig) -> dict[str, dict]:
    run = {}
    for qid, ranking in zip(ids, rankings, strict=True):
        fused = fuse(ranking, cfg.mode, cfg.fusion, cfg.weights, rrf_k=cfg.rrf_k)
        docs: dict[str, float] = {}
        for rank, (row, _score) in enumerate(fused):
            # Scores from different fusions are not comparable; 1/rank keeps the order ranx sees.
            docs.setdefault(searcher.passages[row].doc_id, 1.0 / (rank + 1))
        run[qid] = dict(list(docs.items())[:100]) or {"-": 0.0}
    return run


NAMES = ("ndcg@10", "mrr@10", "recall@10", "hit_rate@1")


def per_query(qrels: dict, run: dict, names=NAMES) -> dict[str, dict[str, float]]:
    """ranx's per-query scores: {metric: {query id: value}}."""
    from ranx import Qrels, Run, evaluate

    ranx_run = Run(run)
    evaluate(Qrels({q: dict(qrels[q]) for q in run}), ranx_run, list(names), make_comparable=True)
    return {n: {q: float(v) for q, v in ranx_run.scores[n].items()} for n in names}


def mean_over(scores: dict[str, dict[str, float]], queries: list[str]) -> dict[str, float]:
    return {n: sum(by_q[q] for q in queries) / len(queries) for n, by_q in scores.items()}


def metrics(qrels: dict, run: dict, names=NAMES) -> dict[str, float]:
    return mean_over(per_query(qrels, run, names), list(run))


def all_rankings(searcher: Searcher, ds: Dataset, cfg: SearchConfig) -> tuple[list[str], list[dict], float]:
    ids = list(ds.queries)
    start = time.perf_counter()
    forms = [searcher.analyze(ds.queries[q], cfg) for q in ids]
    rankings = searcher.rankings(forms, DEPTH, replace(cfg, mode="hybrid"))
    return ids, rankings, (time.perf_counter() - start) * 1000 / max(1, len(ids))


def score_grid(searcher: Searcher, ds: Dataset, configs: list[SearchConfig]) -> list[dict]:
    """Per-query metrics of every setting; query analysis is redone only when a setting changes it."""
    cache: dict[bool, tuple[list[str], list[dict]]] = {}
    out = []
    for cfg in configs:
        if cfg.expand_dense not in cache:
            ids, rankings, _ = all_rankings(searcher, ds, cfg)
            cache[cfg.expand_dense] = (ids, rankings)
        ids, rankings = cache[cfg.expand_dense]
        out.append(per_query(ds.qrels, doc_run(searcher, rankings, ids, cfg)))
    return out


def cross_validate(searcher: Searcher, sets: dict[str, Dataset], configs: list[SearchConfig], folds: int = 5,
                   seed: int = 13):
    scored = {name: score_grid(searcher, ds, configs) for name, ds in sets.items()}
    fold_of: dict[str, dict[str, int]] = {}
    for name, ds in sets.items():
        order = list(ds.queries)
        random.Random(seed).shuffle(order)
        fold_of[name] = {q: i % folds for i, q in enumerate(order)}

    def objective(i: int, keep) -> float:
        means = []
        for name, ds in sets.items():
            qs = [q for q in ds.queries if keep(fold_of[name][q])]
            means.append(mean_over(scored[name][i], qs)["ndcg@10"])
        return sum(means) / len(means)

    held_out: dict[str, list[dict[str, float]]] = {name: [] for name in sets}
    chosen = []
    for f in range(folds):
        best = max(range(len(configs)), key=lambda i: (objective(i, lambda fold: fold != f), -i))
        chosen.append(configs[best])
        for name, ds in sets.items():
            test = [q for q in ds.queries if fold_of[name][q] == f]
            held_out[name].append(mean_over(scored[name][best], test))
    best_all = max(range(len(configs)), key=lambda i: (objective(i, lambda fold: True), -i))
    cv = {name: {n: sum(h[n] for h in rows) / folds for n in rows[0]} for name, rows in held_out.items()}
    full = {name: mean_over(scored[name][best_all], list(sets[name].queries)) for name in sets}
    return cv, chosen, configs[best_all], full


def describe(cfg: SearchConfig) -> str:
    w = f"w(dense,heading,lexical)=1,{cfg.heading_weight:g},{cfg.lexical_weight:g}"
    extra = " +lay terms in dense query" if cfg.expand_dense else ""
    return (f"rrf k={cfg.rrf_k:g} {w}" if cfg.fusion == "rrf" else f"{cfg.fusion} {w}") + extra


ABLATIONS = {
    "default (all on)": {},
    "- spelling folding": {"fold_spelling": False},
    "- lay-term expansion": {"expand_lexical": False},
    "- misspelling repair": {"correct_spelling": False},
    "- heading retriever": {"heading_weight": 0.0},
    "- lexical retriever": {"lexical_weight": 0.0},
    "- lay terms in dense query": {"expand_dense": False},
    "dense only (plain)": {"mode": "dense", "fold_spelling": False, "expand_lexical": False,
                           "correct_spelling": False, "expand_dense": False},
    "dense only (with vocabulary)": {"mode": "dense"},
    "lexical only (plain BM25)": {"mode": "lexical", "fold_spelling": False, "expand_lexical": False,
                                  "correct_spelling": False},
    "lexical only (with vocabulary)": {"mode": "lexical"},
}


def ablate(searcher: Searcher, sets: dict[str, Dataset], base: SearchConfig) -> list[dict]:
    rows = []
    for name, change in ABLATIONS.items():
        cfg = replace(base, **change)
        row: dict = {"variant": name}
        for set_name, ds in sets.items():
            ids = list(ds.queries)
            start = time.perf_counter()
            forms = [searcher.analyze(ds.queries[q], cfg) for q in ids]
            analyze_ms = (time.perf_counter() - start) * 1000 / len(ids)
            depth = DEPTH if cfg.mode == "hybrid" else 100
            rankings = searcher.rankings(forms, depth, cfg)
            total_ms = (time.perf_counter() - start) * 1000 / len(ids)
            row[set_name] = metrics(ds.qrels, doc_run(searcher, rankings, ids, cfg))
            row[f"{set_name}_ms"] = round(total_ms, 2)
            row[f"{set_name}_analyze_ms"] = round(analyze_ms, 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--index", type=Path, default=None, help="an index of the dataset's corpus")
    ap.add_argument("--also", type=Path, action="append", default=[],
                    help="another query set (BEIR queries + qrels) over the same corpus, tuned on jointly")
    ap.add_argument("--out", type=Path, default=Path("bench-out/tune_fusion.json"))
    args = ap.parse_args()
    dev = load_beir(args.dataset)
    index = args.index or prepare_index(dev, Path("eval-out/.cache"))[0].path
    searcher = Searcher(index)
    sets = {dev.name: dev}
    for path in args.also:
        sets[path.name] = load_beir(path, corpus=args.dataset / "corpus.jsonl")
    configs = grid()
    cv, chosen, best, full = cross_validate(searcher, sets, configs)
    for name, figures in cv.items():
        print(f"5-fold CV, held-out folds of {name} ({len(sets[name].queries)} queries): "
              + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
    print("chosen per fold: " + " | ".join(describe(c) for c in chosen))
    print(f"chosen on all folds: {describe(best)}: "
          + "; ".join(f"{name} nDCG@10 {f['ndcg@10']:.3f}" for name, f in full.items()))
    rows = ablate(searcher, sets, best)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cv": cv, "chosen": [asdict(c) for c in chosen], "best": asdict(best),
                                    "full": full, "ablation": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
