"""``passage-search evaluate-page``: serve the evaluation page on its own port, apart from the patients' page.

The page is ``evaluate_app.py`` at the top of the checkout (beside ``search_app.py``), so the patients' page has
no navigation to it; an operator starts it with this command, as ``streamlit run evaluate_app.py`` would.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from passage_search.app.cli_args import positive
from passage_search.errors import PassageSearchError

APP = Path(__file__).resolve().parents[2] / "evaluate_app.py"
DEFAULT_PORT = 8502  # the patients' page is on 8501


def add_evaluate_page_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate-page",
        help="serve the evaluation page for evaluators (not linked from the patients' page)",
        description="Serve the evaluation page (evaluate_app.py): score the search on a test set in the browser. "
        "It offers the seed set and the folders in PASSAGE_SEARCH_EVAL_DIRS, and writes under "
        "PASSAGE_SEARCH_EVAL_OUT.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=positive, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    p.set_defaults(func=cmd_evaluate_page)
    return p


def streamlit_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", host, "--server.port", str(port)]


def cmd_evaluate_page(args: argparse.Namespace) -> int:
    if not APP.is_file():
        raise PassageSearchError(
            f"The evaluation page runs from a checkout of passage-search, and {APP.name} is not at {APP.parent}; "
            "run this command from an editable install (pip install -e .)."
        )
    command = streamlit_command(args.host, args.port)
    print(f"The evaluation page: http://{args.host}:{args.port}", file=sys.stderr)
    os.chdir(APP.parent)  # Streamlit reads the checkout's .streamlit/config.toml from the folder it starts in
    if os.name == "nt":
        return subprocess.call(command)
    os.execv(sys.executable, command)  # the server takes this process's place: Ctrl+C and a kill reach it
    return 0  # not reached
