"""Build the search index: ``python build_index.py [--corpus corpus/] [--out index/] [--model PATH]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from passage_search.app.cli import run
from passage_search.app.cli_build import add_build_arguments, cmd_build

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="build_index.py", description="Build the passage-search index.")
    add_build_arguments(parser, HERE / "corpus", HERE / "index")
    parser.set_defaults(func=cmd_build)
    sys.exit(run(parser.parse_args()))
