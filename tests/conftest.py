"""Shared fixtures: a deterministic fake embedder, a tiny corpus, the real index (built once), the opt-in
CPU hog, and the browser tests' waits on Streamlit's state."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
SEED_QUESTIONS = REPO / "tests" / "data" / "seed_questions.jsonl"
SEARCH_APP = REPO / "search_app.py"
TITLE = "Treatments for soft tissue sarcoma"

_WORD = re.compile(r"\w+")

# ---- PASSAGE_SEARCH_TEST_CPU_HOG=1: every core busy for the whole session -----------------------------------
# A test that passes only on an idle machine waits on time somewhere; with the hog on it fails instead.


def _spin(parent: int) -> None:
    """Busy-loop until the test run that started this process is gone (even if it was killed)."""
    while os.getppid() == parent:
        for _ in range(1_000_000):
            pass


@pytest.fixture(scope="session", autouse=True)
def cpu_hog() -> Iterator[None]:
    if os.environ.get("PASSAGE_SEARCH_TEST_CPU_HOG") != "1":
        yield
        return
    # fork: the child runs only the loop above, so it needs none of the parent's imports (spawn would
    # re-import this module and numpy in every child).
    context = multiprocessing.get_context("fork")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    hogs = [context.Process(target=_spin, args=(os.getpid(),), name=f"cpu-hog-{i}", daemon=True) for i in range(cores)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        for hog in hogs:
            hog.terminate()
        for hog in hogs:
            hog.join(timeout=10)


class FakeEmbedder:
    """Implements the ``Embedder`` protocol without a model.

    Each lower-case word is hashed (sha256, so the same in every process) into one of ``dimension`` slots;
    the counts are L2-normalised. Texts sharing words get similar vectors; identical word bags get
    identical vectors. Tokens are whitespace-separated words.
    """

    def __init__(
        self,
        *,
        dimension: int = 64,
        max_tokens: int = 40,
        name: str = "fake-hash",
        fingerprint: str | None = None,
    ) -> None:
        self.name = name
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.fingerprint = fingerprint or f"fake-hash-{dimension}"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                slot = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "big") % self.dimension
                out[row, slot] += 1.0
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (relative name -> text or bytes) under ``root``; return ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


# ---- the browser tests wait on the page's state, never on time -----------------------------------------------
# Every timeout here is an upper bound, generous so that a busy machine never reaches it; each wait ends as
# soon as the state is there.
LOAD_MS = 180_000  # the page's first run: the model and index load in the Streamlit server
RUN_MS = 120_000  # a rerun: a search, a click


def wait_for_run(page: Page, *shown: Locator, timeout: float = RUN_MS) -> None:
    """Wait until every locator in ``shown`` is visible, then until Streamlit's script run has finished and
    its output is drawn: connected, the run over and no rerun asked for, no element left stale from the run
    before, the running indicator gone, and no CSS transition still moving anything.

    ``shown`` must be something only the awaited run draws (the first result card, the caption with the
    question): the run before an action is also "finished", and only ``shown`` tells the two apart.
    """
    from playwright.sync_api import expect

    for locator in shown:
        expect(locator).to_be_visible(timeout=timeout)
    app = page.get_by_test_id("stApp")
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout)
    # Streamlit keeps the previous run's elements on screen (stale, faded) until the new run ends: a busy
    # machine can draw the first card while the empty page's topic buttons still sit below it.
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=timeout)
    expect(page.get_by_test_id("stStatusWidgetRunningIcon")).to_have_count(0, timeout=timeout)
    page.wait_for_function(
        "document.getAnimations().every(a => a.playState !== 'running'"
        " || a.effect?.getComputedTiming().iterations === Infinity)",
        timeout=timeout,
    )


def wait_for_layout(page: Page, timeout: float = RUN_MS) -> None:
    """Wait until the web fonts have loaded, so widths and clipping are measured on the final text."""
    page.wait_for_function("document.fonts.status === 'loaded'", timeout=timeout)


def wait_until(condition: Callable[[], Any], what: str, timeout: float = RUN_MS) -> Any:
    """Poll ``condition`` until it returns something true (returned), for state no locator can watch (a
    database row, the clipboard); fail after ``timeout`` ms, saying ``what`` never happened."""
    deadline = time.monotonic() + timeout / 1000
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout / 1000:.0f} s")
        time.sleep(0.1)
    return value


# Markdown the page itself adds around escaped text: the highlight box on a question's words (escaped text, with
# bold around letters, digits, spaces and single hyphens only; see highlight.py) and the "Best answer" badge.
# Nothing else may be live.
MARK_BOX = re.compile(r":orange-background\[((?:\\.|[^\\\]])*)\]")
MARK_BOLD = re.compile(r"\*\*([^\W_]+(?:(?: +|\\-)[^\W_]+)*)\*\*")
BADGE = re.compile(r"^:green-badge\[:material/star: Best answer\]$")
# The support line's number as a link to call (page.phone_links): digits and separators, a tel: of digits.
PHONE_LINK = re.compile(r"\[((?:\\[-.()+]|[\d ])+)\]\(tel:\+\d+\)")


def strip_own_markup(value: str) -> str:
    """``value`` with the page's own marks removed (the marked text stays, as escaped)."""
    value = PHONE_LINK.sub(r"\1", value)
    return MARK_BOX.sub(lambda m: MARK_BOLD.sub(r"\1", m.group(1)), BADGE.sub("", value))


def live_markup(value: str) -> list[str]:
    """Characters Markdown would act on in ``value``: any of ``<>[]$`` not escaped by a backslash.

    The page's own marks (``OWN_MARKUP``) are taken out first.
    """
    value = strip_own_markup(value)
    found, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] in "<>[]$":
            found.append(value[i])
        i += 1
    return found


TINY_TXT = """
    Living with sarcoma

    Sarcoma is a rare cancer of the connective tissue. It can start in muscle, fat, nerves or blood vessels.

    Surgery

    Surgery removes the tumour with a margin of healthy tissue. Limb-sparing surgery keeps the arm or leg.

    Radiation therapy

    Radiation therapy uses high-energy rays to destroy cancer cells. It may be given before or after surgery.

    Medical disclaimer

    This information does not replace the advice of your doctor.

    1-800-555-0100 | | © 2024 Example Health Society
    """

TINY_MD = """
    # Eating well during treatment

    Good nutrition helps you cope with treatment and recover afterwards.

    ## Appetite

    Small frequent meals can help when your appetite is poor.

    ### Nausea

    Ginger tea and dry crackers may ease nausea in the morning.
    """


# ---- ways an index folder gets damaged: each must be refused with the rebuild command ----------------------


def _generation(index: Path) -> Path:
    return (index / "current").resolve()


def damage_vectors(index: Path) -> None:
    (_generation(index) / "vectors.faiss").write_bytes(b"not a faiss index" * 50)


def truncate_passages(index: Path) -> None:
    """One passage fewer than vectors: the counts disagree."""
    path = _generation(index) / "passages.jsonl"
    path.write_text("".join(path.read_text("utf-8").splitlines(keepends=True)[:-1]), "utf-8")


def future_format(index: Path) -> None:
    import json

    from passage_search.index.manifest import FORMAT_VERSION

    path = _generation(index) / "manifest.json"
    data = json.loads(path.read_text("utf-8"))
    data["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(data), "utf-8")


def edit_a_passage(index: Path) -> None:
    """A word of the publisher's text changed in place: the counts all still agree."""
    path = _generation(index) / "passages.jsonl"
    text = path.read_text("utf-8")
    word = re.search(r'"text": "(\w+)', text)
    assert word is not None
    path.write_text(text.replace(word.group(0), word.group(0) + "-EDITED", 1), "utf-8")


def flip_vector_bytes(index: Path) -> None:
    """16 bytes inside the vector file flipped: FAISS still reads it, the scores silently change."""
    path = _generation(index) / "vectors.faiss"
    data = bytearray(path.read_bytes())
    at = len(data) - 64
    data[at : at + 16] = bytes(b ^ 0xFF for b in data[at : at + 16])
    path.write_bytes(bytes(data))


def edit_the_manifest(index: Path) -> None:
    """A setting changed by hand in manifest.json."""
    import json

    path = _generation(index) / "manifest.json"
    data = json.loads(path.read_text("utf-8"))
    data["query_prefix"] = "query: "
    path.write_text(json.dumps(data), "utf-8")


def loop_the_current_link(index: Path) -> None:
    (index / "current").unlink()
    os.symlink("current", index / "current")


DAMAGE = {
    "corrupt-vectors": damage_vectors,
    "truncated-passages": truncate_passages,
    "future-format": future_format,
    "edited-passage": edit_a_passage,
    "flipped-vector-bytes": flip_vector_bytes,
    "edited-manifest": edit_the_manifest,
    "looping-current": loop_the_current_link,
}


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """Two documents: a .txt with a sidecar .meta.json, and a .md with nested headings."""
    return write_tree(
        tmp_path / "corpus",
        {
            "sarcoma.txt": TINY_TXT,
            "sarcoma.meta.json": '{"title": "Living with sarcoma", "publisher": "Example Health Society"}',
            "diet.md": TINY_MD,
        },
    )


@pytest.fixture
def fake_index(tiny_corpus: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> Path:
    """An index folder built from the tiny corpus with the fake embedder."""
    from passage_search.index.build import build_index

    out = tmp_path / "index"
    build_index(tiny_corpus, out, embedder=fake_embedder)
    return out


# ---- the real model: loaded once, the real index built once per session ------------------------------


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged model on the default backend: what a user's build and page use."""
    from passage_search.embed.factory import make_embedder

    return make_embedder()


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    """The bundled corpus/ indexed with the packaged all-MiniLM-L6-v2, in a session temp folder."""
    from passage_search.index.build import build_index

    out = tmp_path_factory.mktemp("real") / "index"
    build_index(CORPUS, out, embedder=real_embedder)
    return out


@pytest.fixture(scope="session")
def real_searcher(real_index: Path, real_embedder):
    from passage_search.search.searcher import Searcher

    return Searcher(real_index, embedder=real_embedder)


def edit_manifest(index: Path, **changes: Any) -> None:
    """Change fields of an index's manifest as a build would have written them (a fresh digest).

    For tests of what an index built differently does; a hand edit (no fresh digest) is refused on load.
    """
    import json

    from passage_search.index.manifest import Manifest, manifest_text, resolve

    path = resolve(index) / "manifest.json"
    data = json.loads(path.read_text("utf-8"))
    data.pop("digest", None)
    data.update(changes)
    path.write_text(manifest_text(Manifest.from_json(data)), "utf-8")


def serious_axe_violations(page: Any) -> list[tuple[str, str, list[Any]]]:
    """axe-core's serious and critical violations on ``page`` as it is now: (rule, impact, first targets)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
