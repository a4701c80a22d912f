"""The page starts warm and keeps one model: the launcher (app/launch.py) loads the index and the model before
the server answers, and every index generation the page opens shares one embedder (app/serving.py).

Asserted on state and on the server's log, never on time (the figures are the page benchmark's).
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from conftest import LOAD_MS, SEARCH_APP, TINY_TXT, FakeEmbedder, wait_for_run, write_tree
from streamlit.testing.v1 import AppTest

from passage_search.app import launch, loaders
from passage_search.app.serving import serving_searcher
from passage_search.index.build import build_index
from passage_search.index.manifest import resolve
from passage_search.search.searcher import Searcher

QUESTION = "limb sparing surgery"
OPENED = "passage-search: opened "  # the line load_searcher prints for each generation it opens


@pytest.fixture
def model(request) -> dict[str, str]:
    """A fake model of this test's own: a searcher an earlier test left alive (the page's cache and the script's
    globals belong to the process) holds another model, so it cannot lend this one."""
    return {"fingerprint": f"fake-{request.node.name}"}


@pytest.fixture
def counted(monkeypatch, model) -> dict[str, list[weakref.ref]]:
    """Every searcher and every model made from an index folder from now on (the model is ``model``).

    Held weakly, so that counting them keeps none alive.
    """
    made: dict[str, list[weakref.ref]] = {"searchers": [], "models": []}

    class CountingSearcher(Searcher):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made["searchers"].append(weakref.ref(self))

    def make_embedder(_model=None, **_kwargs):
        embedder = FakeEmbedder(**model)
        made["models"].append(weakref.ref(embedder))
        return embedder

    monkeypatch.setattr("passage_search.app.serving.Searcher", CountingSearcher)
    monkeypatch.setattr("passage_search.search.model.make_embedder", make_embedder)
    return made


@pytest.fixture
def index(tiny_corpus, tmp_path, model) -> Path:
    """The tiny corpus indexed with ``model``."""
    build_index(tiny_corpus, tmp_path / "index", embedder=FakeEmbedder(**model))
    return tmp_path / "index"


def rebuilt(corpus: Path, index: Path, model: dict[str, str], edit: str) -> str:
    """Change the corpus, rebuild the index with ``model``, and return the new generation."""
    before = resolve(index)
    (corpus / "sarcoma.txt").write_text((corpus / "sarcoma.txt").read_text("utf-8") + f"\n{edit}\n", "utf-8")
    build_index(corpus, index, embedder=FakeEmbedder(**model))
    assert resolve(index) != before
    return str(resolve(index))


# ---- warm at start ---------------------------------------------------------------------------------------------


def test_a_warmed_page_opens_no_index_and_no_model_on_its_first_run(monkeypatch, index, counted):
    monkeypatch.setenv("PASSAGE_SEARCH_INDEX", str(index))
    launch.warm(SEARCH_APP, str(index))  # what the launcher does before it starts the server
    assert len(counted["searchers"]) == 1 and len(counted["models"]) == 1

    at = AppTest.from_file(str(SEARCH_APP), default_timeout=120)
    at.query_params["q"] = QUESTION  # a shared link
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(c.value.startswith("Source:") for c in at.caption)  # the first card is there
    assert len(counted["searchers"]) == 1 and len(counted["models"]) == 1  # and came from the warm cache


def test_the_launcher_starts_the_page_even_without_an_index(tmp_path, capsys):
    launch.warm(SEARCH_APP, str(tmp_path / "no-index"))  # returns: the server starts all the same
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("passage-search: ")]
    # One sentence with what to do; the page then says the same to each visitor.
    assert said[-1].startswith(f"passage-search: No index found at {tmp_path / 'no-index'}")
    assert said[-1].endswith("python build_index.py") and len(said) == 2


def test_the_launcher_refuses_anything_but_a_script(capsys):
    assert launch.main([]) == 2
    assert launch.main(["--server.port", "8600"]) == 2
    assert capsys.readouterr().err.splitlines() == [launch.USAGE] * 2


@pytest.mark.browser
@pytest.mark.model
def test_a_shared_link_opened_right_after_healthy_finds_the_page_loaded(real_index, tmp_path):
    """The real launcher, model and browser: the index is opened once, before the server reports healthy, and a
    fresh browser's shared link gets its first card without the session opening anything."""
    from passage_search.bench.page_bench import CHROMIUM, CHROMIUM_ARGS, streamlit_server

    assert CHROMIUM.exists(), f"{CHROMIUM} is missing; install it with: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    log_path = tmp_path / "streamlit.log"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            with open(log_path, "w") as log, streamlit_server(real_index, log=log) as url:
                at_healthy = log_path.read_text("utf-8")
                page = browser.new_context().new_page()
                page.goto(f"{url}?q=radiation+therapy+before+surgery", wait_until="commit")
                wait_for_run(page, page.get_by_text("Source:").first, timeout=LOAD_MS)
                at_first_card = log_path.read_text("utf-8")
        finally:
            browser.close()
    # Opened (and the model warmed) by the launcher, before the server started; not again for the visitor.
    assert at_healthy.count(OPENED) == 1, at_healthy
    assert at_healthy.index(OPENED) < at_healthy.index("the page is ready"), at_healthy
    assert at_first_card.count(OPENED) == 1, at_first_card


# ---- one model for every generation ------------------------------------------------------------------------------


def test_a_rebuilt_index_is_served_with_the_same_model(monkeypatch, tiny_corpus, index, model, counted):
    monkeypatch.setenv("PASSAGE_SEARCH_INDEX", str(index))
    at = AppTest.from_file(str(SEARCH_APP), default_timeout=120)
    at.query_params["q"] = QUESTION
    at.run()
    first = str(resolve(index))

    second = rebuilt(tiny_corpus, index, model, "Surgery may be followed by physiotherapy.")
    at.run()  # the page picks the new generation up on the next run
    assert not at.exception, [e.value for e in at.exception]

    old, new = loaders.load_searcher(str(index), first), loaders.load_searcher(str(index), second)  # both cached
    assert old is not new and old.root != new.root
    assert new.embedder is old.embedder
    assert len(counted["searchers"]) == 2 and len(counted["models"]) == 1


def test_a_generation_built_with_another_model_gets_that_model(monkeypatch, tiny_corpus, tmp_path):
    models: dict[str, dict] = {"fake-hash": {}, "other": {"name": "other", "dimension": 32, "fingerprint": "other-32"}}
    monkeypatch.setattr("passage_search.search.model.make_embedder",
                        lambda model=None, **_kw: FakeEmbedder(**models[model or "fake-hash"]))
    one, other = tmp_path / "one", tmp_path / "other"
    build_index(tiny_corpus, one, embedder=FakeEmbedder())
    build_index(tiny_corpus, other, embedder=FakeEmbedder(**models["other"]))
    a, b = serving_searcher(one), serving_searcher(other)
    assert a.embedder is not b.embedder and b.embedder.fingerprint == "other-32"


def test_a_model_no_searcher_uses_is_not_kept(index, counted):
    searcher = serving_searcher(index)
    model = weakref.ref(searcher.embedder)
    del searcher
    gc.collect()
    assert model() is None  # the page's cache let go of every generation: the model goes with them
    serving_searcher(index)
    assert len(counted["models"]) == 2


@pytest.mark.model
def test_the_real_model_and_its_onnx_session_are_shared_across_a_rebuild(tmp_path):
    """The packaged model on the default backend: the second generation reuses the first one's ONNX session."""
    from passage_search.embed.factory import make_embedder

    corpus = write_tree(tmp_path / "corpus", {"sarcoma.txt": TINY_TXT})
    index = tmp_path / "index"
    embedder = make_embedder()
    build_index(corpus, index, embedder=embedder)
    first = serving_searcher(index)
    session = getattr(first.embedder, "session", None)
    assert session is not None  # the ONNX backend, warm

    write_tree(corpus, {"sarcoma.txt": TINY_TXT.replace("rare cancer", "rare kind of cancer")})
    build_index(corpus, index, embedder=embedder)
    second = serving_searcher(index)
    assert any("rare kind of cancer" in p.text for p in second.passages)  # the new generation
    assert not any("rare kind of cancer" in p.text for p in first.passages)
    assert second.embedder is first.embedder and getattr(second.embedder, "session") is session
