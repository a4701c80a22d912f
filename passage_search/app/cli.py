"""The command line: ``passage-search build``, ``search``, ``serve``, ``eval``, ``feedback`` and ``milvus``.

Only argparse and the standard library are imported at the top, so ``--help`` is instant; the model
stack is imported by the command that needs it.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from passage_search import __version__
from passage_search.app.cli_eval import add_eval_parser
from passage_search.errors import PassageSearchError

if TYPE_CHECKING:
    from passage_search.eval.feedback import FeedbackStore

EXIT_OK, EXIT_USER_ERROR = 0, 1


def _add_build(sub: argparse._SubParsersAction, corpus: Path, out: Path) -> None:
    p = sub.add_parser("build", help="index a corpus folder or file", description="Index a corpus.")
    add_build_arguments(p, corpus, out)
    p.set_defaults(func=cmd_build)


def add_build_arguments(p: argparse.ArgumentParser, corpus: Path, out: Path) -> None:
    p.add_argument("--corpus", type=Path, default=corpus, help=f"folder or file to index (default: {corpus})")
    p.add_argument("--out", type=Path, default=out, help=f"index folder to write (default: {out})")
    p.add_argument("--model", default=None, help="local sentence-transformers folder (default: all-MiniLM-L6-v2)")
    add_backend_argument(p)
    p.add_argument("--no-headings", action="store_true", help="embed passage text without its heading path")
    p.add_argument("--query-prefix", default="", help="text put before every question (e.g. 'query: ')")
    p.add_argument("--passage-prefix", default="", help="text put before every passage (e.g. 'passage: ')")
    p.add_argument(
        "--index-type",
        choices=("auto", "flat", "hnsw", "ivf"),
        default="auto",
        help="passage vector index: exact flat, or approximate hnsw / ivf; auto picks by corpus size (default)",
    )
    p.add_argument("--if-stale", action="store_true", help="do nothing if the index is up to date")
    p.add_argument(
        "--force", action="store_true", help="rebuild and re-embed everything (default: reuse unchanged passages)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ray = p.add_argument_group("distributed build (pip install 'passage-search[distributed]')")
    ray.add_argument(
        "--engine", choices=("local", "ray"), default="local",
        help="where passages are embedded: in this process (default) or on Ray; the index is the same",
    )
    ray.add_argument(
        "--address", default=None,
        help="Ray cluster: auto, HOST:PORT or ray://HOST:10001 (default: $RAY_ADDRESS, else a local Ray for the build)",
    )
    ray.add_argument("--workers", type=_positive, default=None, help="embedding actors (default: one per CPU)")
    ray.add_argument(
        "--temp-dir", type=Path, default=None,
        help="session folder of the local Ray (default: a temporary folder, removed afterwards)",
    )


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def add_backend_argument(p: argparse.ArgumentParser) -> None:
    # The names of embedder.BACKENDS, spelt out so that --help needs no import beyond argparse.
    p.add_argument(
        "--backend",
        choices=("torch", "onnx", "onnx-int8"),
        default=None,
        help="how the model runs: onnx (default; same vectors as torch, faster), onnx-int8 (faster still, "
        "slightly different vectors), torch; or $PASSAGE_SEARCH_BACKEND",
    )


def _add_search(sub: argparse._SubParsersAction, out: Path) -> None:
    p = sub.add_parser("search", help="search an index", description="Search an index for a question.")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("-k", type=int, default=5, help="how many passages to show (default: 5)")
    p.add_argument("--index", type=Path, default=out, help=f"index folder (default: {out})")
    p.add_argument("--model", default=None, help="model folder (default: the one the index was built with)")
    add_backend_argument(p)
    p.add_argument(
        "--mode", choices=("dense", "lexical", "hybrid"), default="hybrid", help="retrieval mode (default: hybrid)"
    )
    p.add_argument("--json", action="store_true", help="print the hits as JSON")
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


def add_milvus_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--uri", default=None, help="Milvus address, e.g. http://127.0.0.1:19530 (or $PASSAGE_SEARCH_MILVUS_URI)"
    )
    p.add_argument(
        "--collection",
        default=None,
        help="Milvus collection (default: $PASSAGE_SEARCH_MILVUS_COLLECTION, else passages_<corpus fingerprint>)",
    )


def _add_milvus(sub: argparse._SubParsersAction, out: Path) -> None:
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


def _add_feedback(sub: argparse._SubParsersAction) -> None:
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


def cmd_build(args: argparse.Namespace) -> int:
    from passage_search.embed.factory import make_embedder
    from passage_search.index.build import build_index, staleness

    if args.engine == "ray":
        from passage_search.backends.ray_cluster import require_ray

        require_ray()  # without Ray: one sentence now, not after loading the model
    elif (args.address, args.workers, args.temp_dir) != (None, None, None):
        from passage_search.errors import DistributedError

        raise DistributedError("--address, --workers and --temp-dir are for Ray builds; add --engine ray.")
    embedder = make_embedder(args.model, backend=args.backend)
    if args.if_stale and not args.force:
        fingerprint = embedder.fingerprint
        why = staleness(args.corpus, args.out, model_fingerprint=fingerprint, index_type=args.index_type)
        if why is None:
            print(f"The index at {args.out} is up to date with {args.corpus}.")
            return EXIT_OK
        print(f"Building the index because {why}.", file=sys.stderr)
    options = {
        "embed_headings": not args.no_headings,
        "query_prefix": args.query_prefix,
        "passage_prefix": args.passage_prefix,
        "progress": not args.quiet,
        "force": args.force,
        "index_type": args.index_type,
    }
    if args.engine == "ray":
        from passage_search.backends.ray_engine import build_with_ray

        ray = {"address": args.address, "workers": args.workers, "temp_dir": args.temp_dir}
        result = build_with_ray(args.corpus, args.out, embedder=embedder, **ray, **options)
    else:
        result = build_index(args.corpus, args.out, embedder=embedder, **options)
    docs = f"{result.documents} document{'s' if result.documents != 1 else ''}"
    reuse = f"{result.embedded} embedded and {result.reused} reused from the previous index"
    if result.up_to_date:
        print(
            f"The index at {args.out} is up to date with {args.corpus}: {docs}, {result.passages} passages, "
            f"{reuse}, in {result.seconds:.1f} s (--force rebuilds it)."
        )
        return EXIT_OK
    for name, reason in result.skipped:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    print(
        f"Indexed {docs} into {result.passages} passages in {result.seconds:.1f} s, {reuse} "
        f"({len(result.skipped)} file{'' if len(result.skipped) == 1 else 's'} skipped) -> {args.out}"
    )
    return EXIT_OK


def _one_thread() -> None:
    from passage_search.search.model import serve_one_question_at_a_time

    serve_one_question_at_a_time()


def cmd_search(args: argparse.Namespace) -> int:
    from passage_search.search.searcher import Searcher

    Searcher.check_question(args.question)  # refuse an empty question before spending seconds on the model
    _one_thread()
    from passage_search.backends.milvus_store import opener

    vectors = opener(args.vector_store, args.uri, args.collection)
    searcher = Searcher(args.index, model=args.model, backend=args.backend, vectors=vectors)
    result = searcher.search(args.question, k=args.k, mode=args.mode)
    for notice in result.notices:
        print(f"passage-search: {notice}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return EXIT_OK
    if result.message:
        print(result.message + (" The closest passages:\n" if result.hits else ""))
    for hit in result:
        p = hit.passage
        print(f"{hit.rank}. [{hit.score:.3f}] {p.breadcrumb}")
        for line in p.text.splitlines():
            print(f"   {line}" if line.strip() else "")
        print(f"   Source: {p.source_line}\n")
    return EXIT_OK


def _add_serve(sub: argparse._SubParsersAction, out: Path) -> None:
    p = sub.add_parser(
        "serve",
        help="serve search over HTTP: GET /search?q=..., /healthz, docs at /docs",
        description="Serve an index over HTTP as a JSON API (GET /search?q=...&k=5&mode=hybrid, GET /healthz).",
    )
    p.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for every interface)",
    )
    p.add_argument("--port", type=_port, default=8000, help="TCP port (default: 8000)")
    p.add_argument("--index", type=Path, default=out, help=f"index folder (default: {out})")
    p.add_argument("--model", default=None, help="model folder (default: the one the index was built with)")
    add_backend_argument(p)
    p.add_argument(
        "--access-log", action="store_true",
        help="log every request, question included, to stderr (off by default: questions can be personal)",
    )
    p.set_defaults(func=cmd_serve)


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {value!r}")
    return int(value)


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, or one sentence saying why not (before seconds go on loading the model)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a closed port's TIME_WAIT is free
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PassageSearchError(
                f"Port {port} on {host} is already in use; stop what listens there or choose another with --port."
            ) from None
        raise PassageSearchError(
            f"Cannot listen on {host} port {port} ({exc.strerror or exc}); check --host and --port."
        ) from None
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    sock = _listen(args.host, args.port)
    try:
        # Imported here, not at the top: --help and the other commands must not pay for the web stack.
        import uvicorn

        from passage_search.app.http import create_app
    except ImportError as exc:
        sock.close()
        raise PassageSearchError(
            f"passage-search serve needs fastapi and uvicorn ({exc.name} is missing); "
            "install them with: pip install fastapi uvicorn"
        ) from None
    app = create_app(args.index, model=args.model, backend=args.backend)
    config = uvicorn.Config(app, host=args.host, port=args.port, access_log=args.access_log, lifespan="on")
    # uvicorn does not announce a server on a socket it was given, so say where it will be (/healthz: when ready).
    url = f"http://{f'[{args.host}]' if ':' in args.host else args.host}:{args.port}"
    print(f"passage-search: loading {args.index}, then serving {url}/search?q=... (docs: {url}/docs).", file=sys.stderr)
    uvicorn.Server(config).run(sockets=[sock])  # the socket bound above: no second bind to race or fail
    return EXIT_OK


def parser(corpus: Path = Path("corpus"), out: Path = Path("index")) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="passage-search", description="Search patient-information passages.")
    p.add_argument("--version", action="version", version=f"passage-search {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _add_build(sub, corpus, out)
    _add_search(sub, out)
    _add_serve(sub, out)
    _add_milvus(sub, out)
    add_eval_parser(sub)
    _add_feedback(sub)
    return p


def run(args: argparse.Namespace) -> int:
    """Run a parsed command, turning library errors into one sentence on stderr."""
    try:
        if getattr(args, "command", None) == "eval":
            _one_thread()
        return int(args.func(args))
    except PassageSearchError as exc:
        print(f"passage-search: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("passage-search: interrupted.", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
