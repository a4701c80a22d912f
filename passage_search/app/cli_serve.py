"""``passage-search serve``: the HTTP API (``app/http.py``) run by uvicorn on a port bound first."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from pathlib import Path

from passage_search.app.cli_args import EXIT_OK, add_backend_argument, add_rerank_arguments, search_config
from passage_search.errors import PassageSearchError


def add_serve_parser(sub: argparse._SubParsersAction, out: Path) -> None:
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
    add_rerank_arguments(p)
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
    app = create_app(args.index, model=args.model, backend=args.backend, config=search_config(args),
                     reranker=args.reranker)
    config = uvicorn.Config(app, host=args.host, port=args.port, access_log=args.access_log, lifespan="on")
    # uvicorn does not announce a server on a socket it was given, so say where it will be (/healthz: when ready).
    url = f"http://{f'[{args.host}]' if ':' in args.host else args.host}:{args.port}"
    print(f"passage-search: loading {args.index}, then serving {url}/search?q=... (docs: {url}/docs).", file=sys.stderr)
    uvicorn.Server(config).run(sockets=[sock])  # the socket bound above: no second bind to race or fail
    return EXIT_OK
