"""``passage-search eval DATASET_DIR``: score every search mode on a BEIR test set (wired into cli.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from passage_search.app.cli_args import positive
from passage_search.eval.beir import load_beir, slug
from passage_search.eval.evaluate import DEFAULT_K, EVAL_OUT, run_eval


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval",
        help="score the search on a BEIR test set",
        description="Score every search mode on a BEIR test set (document level).",
    )
    p.add_argument("dataset", type=Path, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv")
    p.add_argument(
        "--mode",
        nargs="+",
        default=None,
        metavar="MODE",
        help="modes to compare, e.g. dense lexical hybrid (default: all)",
    )
    p.add_argument("--queries", type=Path, help="queries.jsonl to use instead of the folder's")
    p.add_argument("--qrels", type=Path, help="qrels .tsv to use instead of the folder's qrels/test.tsv")
    p.add_argument("--corpus", type=Path, help="corpus.jsonl to use instead of the folder's")
    p.add_argument("--index", type=Path, help="search this index instead of indexing the corpus")
    p.add_argument(
        "--split", choices=("tune", "test"), default=None,
        help="score only this part of the questions (their metadata.split, else --splits); default: all",
    )
    p.add_argument("--splits", type=Path, help="TSV id<TAB>question<TAB>split for questions without metadata.split")
    p.add_argument("-k", type=int, default=DEFAULT_K, help=f"documents ranked per query (default: {DEFAULT_K})")
    p.add_argument("--out", type=Path, help=f"output folder (default: {EVAL_OUT}/<dataset name>)")
    p.add_argument("--model", default=None, help="local sentence-transformers folder (default: all-MiniLM-L6-v2)")
    p.add_argument("--no-headings", action="store_true", help="index passage text without its heading path")
    p.add_argument(
        "--rerank", choices=("off", "on", "both"), default=None,
        help="score each mode with the cross-encoder reranker (on), or without and with it side by side (both); "
        "default: both with --reranker, else off",
    )
    p.add_argument("--reranker", default=None, metavar="PATH",
                   help="reranker folder (default: the packaged one, if any)")
    p.add_argument("--rerank-depth", type=positive, default=None, metavar="N",
                   help="fused hits the reranker rescores (default: 20)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_eval)
    return p


def cmd_eval(args: argparse.Namespace) -> int:
    from passage_search.eval.report import format_table, write_report

    dataset = load_beir(
        args.dataset, args.queries, args.qrels, corpus=args.corpus, split=args.split, splits=args.splits
    )
    bars: dict[str, Any] = {}

    def on_progress(mode: str, done: int, total: int) -> None:
        if args.quiet:
            return
        from tqdm import tqdm

        bar = bars.get(mode) or bars.setdefault(mode, tqdm(total=total, desc=mode, unit="q", file=sys.stderr))
        bar.update(1)
        if done == total:
            bar.close()

    result = run_eval(
        dataset,
        modes=args.mode,
        k=args.k,
        cache_root=(args.out or EVAL_OUT) / ".cache",
        index_dir=args.index,
        model=args.model,
        embed_headings=not args.no_headings,
        progress=not args.quiet,
        on_progress=on_progress,
        rerank=args.rerank or ("both" if args.reranker else "off"),
        reranker=args.reranker,
        rerank_depth=args.rerank_depth,
    )
    out = args.out or EVAL_OUT / slug(dataset.name)
    write_report(result, out)
    info, passages = result.index, result.manifest.passage_count
    if info is not None:
        done = f"Indexed {passages} passages in {info.seconds:.1f} s" if info.built else "Reused the index"
        print(f"{done} at {info.path}")
    print(format_table(result))
    print(f"Report, runs and recall plot -> {out}")
    return 0
