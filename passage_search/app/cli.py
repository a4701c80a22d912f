"""The command line: ``passage-search build``, ``search``, ``verify``, ``serve``, ``evaluate-page``, ``eval``,
``feedback``, ``milvus`` and ``train``.

Only argparse and the standard library are imported at the top, so ``--help`` is instant; the model
stack is imported by the command that needs it. Each command's arguments and code sit in ``cli_*.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from passage_search import __version__
from passage_search.app.cli_args import (
    EXIT_OK,
    EXIT_USER_ERROR,
    add_backend_argument,
    add_milvus_arguments,
    add_rerank_arguments,
    one_thread,
    printable,
    search_config,
)
from passage_search.app.cli_build import add_build_parser
from passage_search.app.cli_eval import add_eval_parser
from passage_search.app.cli_evaluate_page import add_evaluate_page_parser
from passage_search.app.cli_serve import add_serve_parser
from passage_search.app.cli_tools import add_feedback_parser, add_milvus_parser, add_verify_parser
from passage_search.app.cli_train import add_train_parser
from passage_search.errors import sentence


def _add_search(sub: argparse._SubParsersAction, out: Path) -> None:
    from passage_search.app.cli_args import positive

    p = sub.add_parser("search", help="search an index", description="Search an index for a question.")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("-k", type=positive, default=5, help="how many passages to show (default: 5)")
    p.add_argument("--index", type=Path, default=out, help=f"index folder (default: {out})")
    p.add_argument("--model", default=None, help="model folder (default: the one the index was built with)")
    add_backend_argument(p)
    p.add_argument(
        "--mode", choices=("dense", "lexical", "hybrid"), default="hybrid", help="retrieval mode (default: hybrid)"
    )
    p.add_argument("--json", action="store_true", help="print the hits as JSON")
    p.add_argument(
        "--exact",
        action="store_true",
        help="search the words as typed: no spelling correction and no added medical words for lay terms",
    )
    add_rerank_arguments(p)
    # Not --backend: that flag already names how the embedding model runs.
    p.add_argument(
        "--vector-store",
        choices=("faiss", "milvus"),
        default=None,
        help="where passage vectors are searched: faiss (the index folder; default) or milvus (--uri); "
        "or $PASSAGE_SEARCH_VECTOR_STORE",
    )
    add_milvus_arguments(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from passage_search.app.cli_args import escape_raw_controls
    from passage_search.search.confidence import NONE
    from passage_search.search.searcher import Searcher

    Searcher.check_question(args.question)  # refuse an empty question before spending seconds on the model
    one_thread()
    from passage_search.backends.milvus_store import opener

    vectors = opener(args.vector_store, args.uri, args.collection)
    searcher = Searcher(args.index, model=args.model, backend=args.backend, vectors=vectors,
                        config=search_config(args), reranker=args.reranker)
    result = searcher.search(args.question, k=args.k, mode=args.mode, exact=args.exact)
    for notice in result.notices:
        print(f"passage-search: {printable(notice)}", file=sys.stderr)
    if args.json:
        print(escape_raw_controls(json.dumps(result.to_json(), ensure_ascii=False, indent=2)))
        return EXIT_OK
    if result.showing:  # words were repaired or added: say so, and how to search the words as typed
        print(printable(result.showing))
        print(f"{printable(result.instead)}: add --exact.")
        print()
    if result.message:  # related or nothing: the state's name first, so no hit reads as the answer
        after = (". The closest passages:" if result.confidence == NONE else ":") if result.hits else "."
        print(result.label + after)
        print()
    # The corpus's words go to a terminal: an escape sequence in a page must not recolour or clear it.
    for hit in result:
        p = hit.passage
        rerank = f" rerank {hit.scores['rerank']:.2f}" if "rerank" in hit.scores else ""
        print(f"{hit.rank}. [{hit.score:.3f}{rerank}] {printable(p.breadcrumb)}")
        for line in printable(p.text).splitlines():
            print(f"   {line}" if line.strip() else "")
        print(f"   Source: {printable(p.source_line)}")
        if p.url:  # the section on the publisher's site, under the source it names
            print(f"           {printable(p.url)}")
        print()
    return EXIT_OK


def parser(corpus: Path = Path("corpus"), out: Path = Path("index")) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="passage-search", description="Search patient-information passages.")
    p.add_argument("--version", action="version", version=f"passage-search {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    add_build_parser(sub, corpus, out)
    _add_search(sub, out)
    add_serve_parser(sub, out)
    add_verify_parser(sub, out)
    add_milvus_parser(sub, out)
    add_eval_parser(sub)
    add_evaluate_page_parser(sub)
    add_feedback_parser(sub)
    add_train_parser(sub)
    return p


def run(args: argparse.Namespace) -> int:
    """Run a parsed command, turning library errors into one sentence on stderr."""
    try:
        if getattr(args, "command", None) == "eval":
            one_thread()
        return int(args.func(args))
    except KeyboardInterrupt:
        print("passage-search: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # ours, or the file system's, FAISS's, numpy's: one sentence, never a traceback
        print(f"passage-search: {printable(sentence(exc))}", file=sys.stderr)  # it may quote corpus file names
        return EXIT_USER_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
