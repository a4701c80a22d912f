"""What each part of the ranking adds: one row per configuration, one column per question set.

    python experiments/ablation.py [--split tune|test] [--model PATH ...] [--reranker PATH] [--json OUT]

Configurations (hybrid mode unless named): the default; without the vocabulary on the question side
(no British-to-American folding, no lay-term expansion for BM25 or the model; the index's own folding is
unchanged); without the intent boost;
without the heading retriever (weight 0); dense only; lexical only; with the reranker (when a
reranker folder is given or shipped); and the default with each ``--model`` folder as the encoder.
Figures are document-level nDCG@10 and Hit@1 from the project's own evaluation (``evaluate``), the same
as ``passage-search eval``. Decisions are made on ``--split tune``; ``--split test`` is for the report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from passage_search.eval.beir import Dataset, load_beir
from passage_search.eval.evaluate import EVAL_OUT, evaluate, prepare_index
from passage_search.search.config import SearchConfig
from passage_search.search.searcher import Searcher

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests" / "data"
SPLITS = TESTS / "splits"
CANCERGOV = REPO.parent / "shared" / "data" / "cancergov"
SHOWN = (("ndcg@10", "nDCG@10"), ("hit_rate@1", "Hit@1"))


def sets(part: str) -> list[tuple[str, Dataset]]:
    cg_corpus = CANCERGOV / "corpus.jsonl"
    seed_corpus = TESTS / "seed_beir" / "corpus.jsonl"
    return [
        ("seed", load_beir(TESTS / "seed_beir", split=part, splits=SPLITS / "seed_questions.tsv")),
        ("sarcoma_blind", load_beir(TESTS / "sarcoma_blind", corpus=seed_corpus, split=part)),
        ("sarcoma_blind2", load_beir(TESTS / "sarcoma_blind2", corpus=seed_corpus, split=part)),
        ("cancergov_lay", load_beir(TESTS / "cancergov_lay", corpus=cg_corpus, split=part,
                                    splits=SPLITS / "cancergov_lay.tsv")),
        ("cancergov_blind", load_beir(TESTS / "cancergov_blind", corpus=cg_corpus, split=part)),
        ("cancergov_dev", load_beir(CANCERGOV, split=part, splits=SPLITS / "cancergov_dev.tsv")),
    ]


CONFIGS: list[tuple[str, SearchConfig]] = [
    ("default (hybrid)", SearchConfig()),
    ("− intent boost", SearchConfig(intent_weight=0.0)),
    ("− vocabulary (question side)", SearchConfig(fold_spelling=False, expand_lexical=False, expand_dense=False)),
    ("− heading retriever", SearchConfig(heading_weight=0.0)),
    ("dense only", SearchConfig(mode="dense")),
    ("lexical only", SearchConfig(mode="lexical")),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("tune", "test"), default="tune")
    ap.add_argument("--model", action="append", default=[], help="an encoder folder to compare (repeatable)")
    ap.add_argument("--reranker", default=None, help="a reranker folder (default: the shipped one, if any)")
    ap.add_argument("--no-reranker", action="store_true", help="leave the reranker row out")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    reranker = None
    if not args.no_reranker:
        from passage_search.rerank.factory import load_reranker

        reranker = load_reranker(args.reranker)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    data = sets(args.split)
    for name, dataset in data:
        for model in [None, *args.model]:
            info, emb = prepare_index(dataset, EVAL_OUT / ".cache", model=model)
            searcher = Searcher(info.path, embedder=emb, reranker=reranker)
            rows = CONFIGS if model is None else [(f"encoder {Path(model).name}", SearchConfig())]
            if model is None and reranker is not None:
                rows = [*rows, ("+ reranker", SearchConfig(rerank=True))]
            for label, config in rows:
                searcher.config = config
                mode = config.mode
                result = evaluate(searcher, dataset, modes=[mode])
                metrics = result.modes[mode].metrics
                figures.setdefault(label, {})[name] = {key: round(metrics[key], 4) for key, _ in SHOWN}
                print(f"{label:32} {name:16} " + "  ".join(f"{s} {metrics[k]:.3f}" for k, s in SHOWN), flush=True)
    names = [n for n, _ in data]
    counts = {n: len(d.queries) for n, d in data}
    print(f"\n{args.split.upper()} parts (questions with a relevant passage); nDCG@10 / Hit@1")
    print("| configuration | " + " | ".join(f"{n} ({counts[n]})" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for label, row in figures.items():
        cells = [f"{row[n]['ndcg@10']:.3f} / {row[n]['hit_rate@1']:.3f}" for n in names]
        print(f"| {label} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"split": args.split, "counts": counts, "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
