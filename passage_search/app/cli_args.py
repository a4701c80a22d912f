"""Arguments and helpers shared by the command-line commands (``app/cli.py`` puts them together)."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_USER_ERROR = 0, 1


def positive(value: str) -> int:
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
