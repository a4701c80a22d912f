"""The layout is the architecture: no import circles, stages import only earlier stages, faces alone import
their frameworks, modules stay small, and the wheel holds every module and data file and imports whole."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "passage_search"
MAX_LINES = 320  # "about 300": a module over this has more than one job
# Where each framework may be imported: the faces (and the benchmark, a command of its own).
FACES = {
    "streamlit": ("passage_search.app.",),
    "argparse": ("passage_search.app.", "passage_search.bench."),
    "fastapi": ("passage_search.app.",),
    "uvicorn": ("passage_search.app.",),
}
# The data flows one way: a stage never imports a later one.
LATER = {
    "passage_search.passage": ("passage_search.",),
    "passage_search.errors": ("passage_search.",),
    "passage_search.analysis": ("passage_search.ingest", "passage_search.embed", "passage_search.index",
                                "passage_search.search", "passage_search.eval", "passage_search.app",
                                "passage_search.backends", "passage_search.bench"),
    "passage_search.ingest": ("passage_search.embed", "passage_search.index", "passage_search.search",
                              "passage_search.eval", "passage_search.app", "passage_search.backends"),
    "passage_search.embed": ("passage_search.ingest", "passage_search.index", "passage_search.search",
                             "passage_search.eval", "passage_search.app", "passage_search.backends"),
    "passage_search.rerank": ("passage_search.ingest", "passage_search.index", "passage_search.search",
                              "passage_search.eval", "passage_search.app", "passage_search.backends"),
    "passage_search.index": ("passage_search.search", "passage_search.eval", "passage_search.app",
                             "passage_search.backends"),
    "passage_search.search": ("passage_search.eval", "passage_search.app", "passage_search.backends"),
    "passage_search.eval": ("passage_search.app",),
    "passage_search.backends": ("passage_search.app", "passage_search.eval"),
}
ALLOWED_TOP = {"passage_search.passage": ("passage_search",), "passage_search.errors": ()}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every module imported anywhere in ``path`` (top level, inside functions, under TYPE_CHECKING)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            # "from passage_search.index import ann" imports the module passage_search.index.ann
            out.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; the package uses absolute ones")
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: {m for m in imports_of(path, known) if m in known and m != name} for name, path in mods.items()}


def test_no_import_circles():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert circles == []


def test_stages_import_only_earlier_stages():
    wrong = []
    for name, targets in graph().items():
        for stage, forbidden in LATER.items():
            if name == stage or name.startswith(stage + "."):
                wrong += [f"{name} -> {t}" for t in targets if t.startswith(forbidden) and t != "passage_search"]
    assert wrong == []


def test_only_faces_import_their_frameworks():
    wrong = []
    for name, path in modules().items():
        used = imports_of(path, set())
        for framework, allowed in FACES.items():
            if any(u == framework or u.startswith(framework + ".") for u in used) and not name.startswith(allowed):
                wrong.append(f"{name} imports {framework}")
    assert wrong == []


def test_modules_stay_small():
    sizes = {name: len(path.read_text("utf-8").splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel ``pip install .`` would install, built from a copy of the tracked sources."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(PACKAGE, src / "passage_search", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (found,) = out.glob("passage_search-*.whl")
    return found


def test_the_wheel_holds_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "passage_search"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git lists no package files"
    assert sorted(f for f in tracked if f not in names) == []
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "passage-search = passage_search.app.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_every_module_of_the_wheel_imports_from_it(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    names = sorted(name for name in modules() if not name.endswith("__main__"))  # those run a command
    code = (
        "import importlib, sys\n"
        "import passage_search\n"
        f"assert passage_search.__file__.startswith({str(tmp_path / 'site')!r}), passage_search.__file__\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print('imported', len(sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("imported")
