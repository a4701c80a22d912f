"""``python -m passage_search.app.launch search_app.py [streamlit run options]``: the page, warm before it answers.

``streamlit run`` runs a page's script only when the first visitor connects, so the imports, the index load
and the model's first encode (seconds on two busy cores) landed on that visitor. This launcher does them
first, in the process Streamlit then serves from, and hands over to ``streamlit run`` with the same
arguments. The server reports healthy only once the searcher is warm, and the page's first run finds it in
Streamlit's cache: the launcher calls the page's own cached loaders (``app/loaders.py``), and Streamlit keys
a cached function by its module, name and source. ``scripts/start.sh`` runs it.
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

INDEX_ENV = "PASSAGE_SEARCH_INDEX"
WATCHER_ENV = "STREAMLIT_SERVER_FILE_WATCHER_TYPE"
# Modules Streamlit imports on a page's first run only: the emoji table for set_page_config's icon took
# 0.25 s of the first visitor's wait (python -X importtime). A name missing in another version is skipped.
STREAMLIT_LAZY = ("streamlit.emojis", "streamlit.material_icon_names")
# Where Streamlit warns that a cache is used with no script running ("bare mode"), which warm() does on purpose.
BARE_MODE_LOGGERS = (
    "streamlit.runtime.caching.cache_data_api",
    "streamlit.runtime.scriptrunner_utils.script_run_context",
)
USAGE = "usage: python -m passage_search.app.launch SCRIPT.py [streamlit run options]"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or not args[0].endswith(".py") or not Path(args[0]).is_file():
        print(USAGE, file=sys.stderr)
        return 2
    script = Path(args[0]).resolve()
    warm(script, str(index_folder(script)))
    # Imported after the warm-up and run in this process, so the page's script finds it all loaded.
    from streamlit import delta_generator
    from streamlit.web import cli

    # On its first element Streamlit checks once whether it runs in a REPL, to warn a script run with plain
    # python, which this is not: inspect.stack() over every loaded module took 0.3 s of the first visitor's wait.
    if hasattr(delta_generator, "_use_warning_has_been_displayed"):
        delta_generator._use_warning_has_been_displayed = True

    options = args[1:]
    if not any(a.startswith("--server.fileWatcherType") for a in options) and WATCHER_ENV not in os.environ:
        # A served page does not rerun on edits (runOnSave is off), and watching cost each new visitor's
        # session an import and a recursive inotify watch of the checkout (.venv included).
        options += ["--server.fileWatcherType", "none"]
    sys.argv = ["streamlit", "run", str(script), *options]
    cli.main(prog_name="streamlit")  # click parses the options as `streamlit run` does, then exits
    return 0


def index_folder(script: Path) -> Path:
    """The index a page serves: $PASSAGE_SEARCH_INDEX, else ``index/`` beside the page's script. The page reads
    it with this function too, so the launcher warms the index the page then opens."""
    return Path(os.environ.get(INDEX_ENV, str(script.resolve().parent / "index")))


def warm(script: Path, index_dir: str) -> None:
    """Import what the page imports and fill its cache (searcher with the model warm, notices, summary).

    A failure is printed in one sentence and does not stop the page, which shows the same sentence to each
    visitor (with what to do) as it does without the launcher.
    """
    from passage_search.errors import sentence

    started = time.perf_counter()
    print(f"passage-search: loading the index at {index_dir} before the page starts ...", file=sys.stderr, flush=True)
    with _bare_mode_quiet():
        preimport(script)
        from passage_search.app import loaders

        try:
            searcher = loaders.warm(index_dir)
        except Exception as exc:
            print(f"passage-search: {sentence(exc)}", file=sys.stderr, flush=True)
            return
    print(f"passage-search: the page is ready ({len(searcher.passages)} passages, model warm) after "
          f"{time.perf_counter() - started:.1f} s; starting the server.", file=sys.stderr, flush=True)


@contextmanager
def _bare_mode_quiet() -> Iterator[None]:
    """Silence Streamlit's warnings that its caches are used outside a script run: here that is the point."""
    import streamlit  # noqa: F401  (its loggers exist once it is imported; creating them resets their level)

    loggers = [logging.getLogger(name) for name in BARE_MODE_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def preimport(script: Path) -> None:
    """Import the modules ``script`` imports at its top (a missing one is left for the page to report), and
    those Streamlit imports on a first run."""
    for name in STREAMLIT_LAZY:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    for node in ast.parse(script.read_text("utf-8")).body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from package import module` names a module to load as well as the package.
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # a name inside a module (`from x import function`), or broken: the page says so
                pass


if __name__ == "__main__":
    sys.exit(main())
