"""Arguments and helpers shared by the command-line commands (``app/cli.py`` puts them together)."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from passage_search.search.config import SearchConfig

EXIT_OK, EXIT_USER_ERROR = 0, 1


def positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


# What would drive the terminal rather than show in it: ANSI escape sequences (CSI: colours, cursor moves,
# clearing the screen; OSC: window titles, links; two-character ESC sequences), then any C0 or C1 control
# character but tab and newline (a carriage return would let a line overwrite the one before).
_CONTROLS = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)
# JSON escapes C0 controls itself, but with ensure_ascii=False writes DEL and C1 controls as they are.
_RAW_IN_JSON = re.compile("[\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` without the control characters and escape sequences a corpus file may hold, for a terminal."""
    return _CONTROLS.sub("", text)


def escape_raw_controls(json_text: str) -> str:
    """JSON text with its raw DEL and C1 characters escaped (\\u009b): the same data, safe to print."""
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)


def add_backend_argument(p: argparse.ArgumentParser) -> None:
    # The names of embedder.BACKENDS, spelt out so that --help needs no import beyond argparse.
    p.add_argument(
        "--backend",
        choices=("torch", "onnx", "onnx-int8"),
        default=None,
        help="how the model runs: onnx (default; same vectors as torch, faster), onnx-int8 (faster still, "
        "slightly different vectors), torch; or $PASSAGE_SEARCH_BACKEND",
    )


def add_rerank_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rerank",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reorder the fused top hits with the cross-encoder reranker (default: off)",
    )
    p.add_argument(
        "--reranker",
        default=None,
        metavar="PATH",
        help="reranker folder written by passage-search train --reranker (default: the packaged one, if any)",
    )
    p.add_argument(
        "--rerank-depth",
        type=positive,
        default=None,
        metavar="N",
        help="how many fused hits the reranker rescores (default: 20)",
    )


def search_config(args: argparse.Namespace) -> SearchConfig:
    """The SearchConfig for the rerank flags (imported here: argparse-only modules stay light)."""
    from dataclasses import replace

    from passage_search.search.config import SearchConfig

    cfg = SearchConfig()
    if getattr(args, "rerank", None) is not None:
        cfg = replace(cfg, rerank=args.rerank)
    elif getattr(args, "reranker", None):  # naming a reranker folder asks for it
        cfg = replace(cfg, rerank=True)
    if getattr(args, "rerank_depth", None) is not None:
        cfg = replace(cfg, rerank_depth=args.rerank_depth)
    return cfg


def add_milvus_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--uri", default=None, help="Milvus address, e.g. http://127.0.0.1:19530 (or $PASSAGE_SEARCH_MILVUS_URI)"
    )
    p.add_argument(
        "--collection",
        default=None,
        help="Milvus collection (default: $PASSAGE_SEARCH_MILVUS_COLLECTION, else passages_<corpus fingerprint>)",
    )


def one_thread() -> None:
    from passage_search.search.model import serve_one_question_at_a_time

    serve_one_question_at_a_time()
