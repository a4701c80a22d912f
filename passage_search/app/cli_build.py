"""``passage-search build`` (and ``build_index.py``): index a corpus folder or file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from passage_search.app.cli_args import EXIT_OK, add_backend_argument, positive, printable


def add_build_parser(sub: argparse._SubParsersAction, corpus: Path, out: Path) -> None:
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
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="where passages are embedded: in this process (default) or on Ray; the index is the same",
    )
    ray.add_argument(
        "--address",
        default=None,
        help="Ray cluster: auto, HOST:PORT or ray://HOST:10001 (default: $RAY_ADDRESS, else a local Ray for the build)",
    )
    ray.add_argument("--workers", type=positive, default=None, help="embedding actors (default: one per CPU)")
    ray.add_argument(
        "--temp-dir",
        type=Path,
        default=None,
        help="session folder of the local Ray (default: a temporary folder, removed afterwards)",
    )


def cmd_build(args: argparse.Namespace) -> int:
    from passage_search.embed.factory import make_embedder
    from passage_search.index.build import HEADING_WEIGHT, OVERLAP, build_index, staleness

    if args.engine == "ray":
        from passage_search.backends.ray_cluster import require_ray

        require_ray()  # without Ray: one sentence now, not after loading the model
    elif (args.address, args.workers, args.temp_dir) != (None, None, None):
        from passage_search.errors import DistributedError

        raise DistributedError("--address, --workers and --temp-dir are for Ray builds; add --engine ray.")
    embedder = make_embedder(args.model, backend=args.backend)
    if args.if_stale and not args.force:
        # Every setting this build states, so --if-stale and the build's own check are one test.
        why = staleness(
            args.corpus,
            args.out,
            model_fingerprint=embedder.fingerprint,
            max_tokens=embedder.max_tokens,
            embed_headings=not args.no_headings,
            query_prefix=args.query_prefix,
            passage_prefix=args.passage_prefix,
            overlap=OVERLAP,
            heading_weight=HEADING_WEIGHT,
            index_type=args.index_type,
        )
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
    for note in result.notes:  # a distrusted previous index, leftovers of killed builds removed
        print(printable(f"passage-search: {note}"), file=sys.stderr)
    docs = f"{result.documents} document{'s' if result.documents != 1 else ''}"
    reuse = f"{result.embedded} embedded and {result.reused} reused from the previous index"
    if result.up_to_date:
        print(
            f"The index at {args.out} is up to date with {args.corpus}: {docs}, {result.passages} passages, "
            f"{reuse}, in {result.seconds:.1f} s (--force rebuilds it)."
        )
        return EXIT_OK
    print(
        f"Indexed {docs} into {result.passages} passages in {result.seconds:.1f} s, {reuse}, "
        f"{result.resplit} document{'' if result.resplit == 1 else 's'} split anew "
        f"({skipped_summary(result.skipped)}) -> {args.out}"
    )
    return EXIT_OK


# Lines of a corpus.jsonl listed one by one per file and problem; the rest are counted.
LINES_SHOWN = 5


def skipped_summary(skipped: list[tuple[str, str]]) -> str:
    """List what the build skipped on stderr, each with its reason; return the counts for the summary line.

    Whole files, then lines of BEIR corpus.jsonl files (``LineSkipped``), at most ``LINES_SHOWN`` per file
    and problem. Names and reasons hold corpus text (file names, _ids), so they are printed without controls.
    """
    from collections import Counter

    from passage_search.ingest.beir import COUNTED, LineSkipped

    lines = [s for s in skipped if isinstance(s, LineSkipped)]
    files = [s for s in skipped if not isinstance(s, LineSkipped)]
    for name, reason in files:
        print(printable(f"skipped {name}: {reason}"), file=sys.stderr)
    kinds = Counter((line.file, line.problem) for line in lines)
    shown: Counter[tuple[str, str]] = Counter()
    for line in lines:
        kind = (line.file, line.problem)
        shown[kind] += 1
        if shown[kind] <= LINES_SHOWN:
            print(printable(f"skipped {line.name}: {line.reason}"), file=sys.stderr)
        elif shown[kind] == kinds[kind]:
            more = kinds[kind] - LINES_SHOWN
            print(printable(f"skipped {more:,} more line{_s(more)} of {line.file}: {line.problem}"), file=sys.stderr)
    out = f"{len(files)} file{_s(len(files))} skipped"
    if lines:
        problems = Counter(COUNTED.get(line.problem, line.problem) for line in lines)
        out += f"; {len(lines):,} line{_s(len(lines))} skipped: " + ", ".join(f"{n:,} {p}" for p, n in problems.items())
    return out


def _s(n: int) -> str:
    return "" if n == 1 else "s"
