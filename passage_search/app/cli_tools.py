"""``passage-search verify``, ``milvus push`` and ``feedback``: an index's proof, the vector store, the page's
judgments."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from passage_search.app.cli_args import EXIT_OK, add_milvus_arguments

if TYPE_CHECKING:
    from passage_search.eval.feedback import FeedbackStore


def add_verify_parser(sub: argparse._SubParsersAction, out: Path) -> None:
    p = sub.add_parser(
        "verify",
        help="check that an index is exactly what its build wrote",
        description="Check every file of an index against the checksums in its manifest, and its passages "
        "against their fingerprint, without loading the model (every load does the same).",
    )
    p.add_argument("index", type=Path, nargs="?", default=out, help=f"index folder (default: {out})")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    import time

    from passage_search.index.store import load_index

    start = time.perf_counter()
    loaded = load_index(args.index)  # raises IndexMismatchError, one sentence, on any difference
    files = len(loaded.manifest.checksums) + 1
    print(
        f"The index at {args.index} is as its build wrote it: {files} files and {len(loaded.passages)} passages "
        f"checked in {time.perf_counter() - start:.2f} s."
    )
    return EXIT_OK


def add_milvus_parser(sub: argparse._SubParsersAction, out: Path) -> None:
    p = sub.add_parser(
        "milvus", help="serve an index's vectors from Milvus", description="Serve an index's vectors from Milvus."
    )
    actions = p.add_subparsers(dest="action", required=True)
    push = actions.add_parser("push", help="copy the index's passage vectors into a Milvus collection")
    push.add_argument("--index", type=Path, default=out, help=f"index folder (default: {out})")
    add_milvus_arguments(push)
    push.add_argument(
        "--index-type",
        choices=("FLAT", "HNSW", "IVF_FLAT"),
        default="FLAT",
        help="Milvus vector index: FLAT (exact; default) or HNSW / IVF_FLAT (approximate, for millions of rows)",
    )
    push.set_defaults(func=cmd_milvus_push)


def cmd_milvus_push(args: argparse.Namespace) -> int:
    from passage_search.backends.milvus_push import push
    from passage_search.backends.milvus_store import ENV_COLLECTION, ENV_URI
    from passage_search.errors import VectorStoreError

    uri = args.uri or os.environ.get(ENV_URI)
    if not uri:
        raise VectorStoreError(f"Say where Milvus is with --uri or {ENV_URI} (e.g. http://127.0.0.1:19530).")
    s = push(args.index, uri, args.collection or os.environ.get(ENV_COLLECTION) or None, index_type=args.index_type)
    if s.up_to_date:
        print(f"The Milvus collection {s.collection} at {s.uri} already holds these {s.rows} vectors.")
    else:
        print(
            f"Pushed {s.rows} vectors ({s.index_type}) to the Milvus collection {s.collection} at {s.uri} in "
            f"{s.seconds:.1f} s ({s.vectors_per_second:,.0f} vectors/s)."
        )
    print(f"Search them with: passage-search search QUESTION --index {args.index} --vector-store milvus "
          f"--uri {s.uri} --collection {s.collection}")
    return EXIT_OK


def add_feedback_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "feedback",
        help="export or count the search page's helpful / not helpful judgments",
        description="Relevance feedback from the search page (on when $PASSAGE_SEARCH_FEEDBACK names a file).",
    )
    actions = p.add_subparsers(dest="action", required=True)
    db_help = "feedback database (default: $PASSAGE_SEARCH_FEEDBACK)"
    export = actions.add_parser("export", help="write the judgments as a BEIR folder for passage-search eval")
    export.add_argument("--db", type=Path, help=db_help)
    export.add_argument("--out", type=Path, required=True, help="BEIR folder to write")
    export.set_defaults(func=cmd_feedback_export)
    stats = actions.add_parser("stats", help="count judgments, questions and the helpful share")
    stats.add_argument("--db", type=Path, help=db_help)
    stats.set_defaults(func=cmd_feedback_stats)


def _feedback_store(db: Path | None) -> FeedbackStore:
    from passage_search.errors import FeedbackError
    from passage_search.eval.feedback import ENV_VAR, FeedbackStore, feedback_path

    path = db or feedback_path()
    if path is None:
        raise FeedbackError(f"Feedback is off; set {ENV_VAR} to a database file (or pass --db) to turn it on.")
    if not path.is_file():
        raise FeedbackError(f"No feedback has been recorded at {path}; check the path.")
    return FeedbackStore(path)


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from passage_search.eval.feedback import DOCUMENT_QRELS, export_beir

    s = export_beir(_feedback_store(args.db), args.out)
    skipped = f"; {s.skipped_queries} without a helpful passage skipped" if s.skipped_queries else ""
    print(f"Exported {s.queries} questions, {s.judgments} judgments, {s.documents} passages{skipped} -> {s.folder}")
    print(f"Score it with: passage-search eval {s.folder}")
    print(f"or on an index: passage-search eval {s.folder} --index INDEX --qrels {s.folder / 'qrels' / DOCUMENT_QRELS}")
    return EXIT_OK


def cmd_feedback_stats(args: argparse.Namespace) -> int:
    from passage_search.eval.feedback import feedback_stats

    s = feedback_stats(_feedback_store(args.db).judgments())
    print(f"judgments  {s.judgments}")
    print(f"questions  {s.queries}")
    print(f"passages   {s.passages}")
    print(f"helpful    {s.helpful} ({s.helpful_share:.0%})")
    return EXIT_OK
