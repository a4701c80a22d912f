"""The evaluation page in a real browser (Debian chromium via Playwright), at 1280×800 and 375×812.

It is for evaluators, so it has its own entry point (``passage-search evaluate-page``, started here exactly so)
and the patients' page has no way to it. Run on the bundled seed set it shows the metrics table with the best
value of each row marked and a tooltip on every metric, and its drill-down opens on the product's mode.
Every step waits on state (conftest's ``wait_for_run``), never on time. Screenshots go to $PASSAGE_SEARCH_SHOTS.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from conftest import LOAD_MS, REPO, serious_axe_violations, wait_for_layout, wait_for_run

# The browser and the way a page is opened are the page tests' own (one place to change them).
from test_page_browser import browser, new_context, open_page, shots  # noqa: F401

from passage_search.bench.common import free_port, stop
from passage_search.bench.page_bench import streamlit_server, wait_healthy

pytestmark = [pytest.mark.browser, pytest.mark.model]

SIZES = {
    "1280": {"viewport": {"width": 1280, "height": 800}},
    "375": {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True},
}
DONE = "Questions, worst first"  # drawn last, once the run is over and the report written


@contextmanager
def evaluate_page_server(*, env: dict[str, str] | None = None, log: IO[str] | None = None) -> Iterator[str]:
    """The evaluation page as an operator starts it (``passage-search evaluate-page``) on a free port of
    127.0.0.1: yields its URL once healthy, then stops it. ``env``: settings such as PASSAGE_SEARCH_EVAL_DIRS."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "passage_search", "evaluate-page", "--port", str(port)],
        cwd=REPO, env={**os.environ, **(env or {})},
        stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc)  # the command execs Streamlit, so this is the server itself


def open_evaluate(page, url: str):
    """Open the evaluation page and wait until its first run has finished: the Run button drawn."""
    page.goto(url, wait_until="commit")
    run = page.get_by_role("button", name="Run")
    wait_for_run(page, run, timeout=LOAD_MS)
    return run


@pytest.fixture(scope="module")
def eval_out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eval-out")


@pytest.fixture(scope="module")
def evaluate_server(eval_out, tmp_path_factory):
    env = {"PASSAGE_SEARCH_EVAL_OUT": str(eval_out), "PASSAGE_SEARCH_EVAL_DIRS": ""}  # the seed set only
    with open(tmp_path_factory.mktemp("streamlit") / "evaluate.log", "w") as log:
        with evaluate_page_server(env=env, log=log) as url:
            yield url


@pytest.fixture(scope="module")
def search_server(real_index, tmp_path_factory):
    with open(tmp_path_factory.mktemp("streamlit") / "search.log", "w") as log:
        with streamlit_server(real_index, log=log) as url:
            yield url


@pytest.fixture(params=list(SIZES))
def page(request, browser):  # noqa: F811 - ``browser`` is the fixture imported above
    context = new_context(browser, **SIZES[request.param])
    page = context.new_page()
    page.size = request.param  # for the screenshots' names
    yield page
    context.close()


def links(page) -> list[str]:
    return page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")


def test_the_patients_page_has_no_way_to_the_evaluate_page(page, search_server):
    open_page(page, search_server)
    assert page.get_by_test_id("stSidebarNav").count() == 0  # no page list in a sidebar
    assert not [href for href in links(page) if "evaluat" in href.lower()], links(page)
    assert page.get_by_role("link", name="evaluate").count() == 0
    # Nor an address: the patients' server has no evaluate page to serve.
    page.goto(search_server + "evaluate", wait_until="commit")
    wait_for_run(page, page.get_by_label("Your question"), timeout=LOAD_MS)
    assert page.get_by_role("button", name="Run").count() == 0
    assert page.get_by_role("heading", name="Evaluation").count() == 0


def whole_page_screenshot(page, path: Path) -> None:
    """Streamlit scrolls inside its main block, so a full-page shot holds one screen: make the screen as tall
    as the page first (same width, so the same layout)."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": max(height, page.viewport_size["height"])})
    page.screenshot(path=str(path), full_page=True)


def cells(row) -> list[str]:
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def test_the_evaluate_page_runs_the_seed_set_with_marks_tooltips_and_hybrid_first(page, evaluate_server, eval_out,
                                                                                  shots):  # noqa: F811
    from playwright.sync_api import expect

    from passage_search.eval.evaluate import available_modes
    from passage_search.eval.report import HELP, lower_is_better

    run = open_evaluate(page, evaluate_server)
    assert page.get_by_test_id("stSidebarNav").count() == 0  # a page of its own, not one of a list
    first = not (eval_out / ".cache").exists()  # nothing indexed yet: the first run of a fresh install
    started = time.perf_counter()
    run.click()
    if first:  # seconds of work (model, index, questions): the bar says which, and moves
        expect(page.get_by_test_id("stProgress")).to_contain_text(re.compile(r"model|Indexing|questions"))
    table = page.get_by_test_id("stTable")
    expect(table).to_be_visible(timeout=LOAD_MS)
    seconds = time.perf_counter() - started
    wait_for_run(page, page.get_by_text(DONE), timeout=LOAD_MS)
    assert (eval_out / "seed" / "report.json").is_file()
    # Measured, not asserted (a busy machine is slower): the figures are in docs/evaluation.md.
    print(f"\nseed set, every mode, {'first run (model loaded, index built)' if first else 'rerun'}: "
          f"Run to the table {seconds:.1f} s")

    expect(table).to_have_count(1)
    modes = [h.strip() for h in table.locator("thead th").all_inner_texts()][1:]
    assert modes == list(available_modes())
    rows = table.locator("tbody tr")
    assert [cells(r)[0] for r in rows.all()] == list(HELP)  # every metric and time, in the report's order
    for i, row in enumerate(rows.all()):
        metric, *shown = cells(row)
        values = [float(v) for v in shown]
        best = (min if lower_is_better(metric) else max)(values)
        weights = row.locator("td").evaluate_all("tds => tds.map(td => getComputedStyle(td).fontWeight)")[1:]
        marked = [modes[j] for j, w in enumerate(weights) if int(w) >= 700]
        assert marked == [modes[j] for j, v in enumerate(values) if v == best], (metric, shown, marked)
        # The metric's name carries its one-line explanation as a tooltip.
        tip = row.locator("td").first.locator(".pd-t")
        assert tip.evaluate("el => getComputedStyle(el, '::after').content") == f'"{HELP[metric]}"', metric
        if i == 0:
            expect(tip).to_be_hidden()
            row.locator("td").first.hover()
            expect(tip).to_be_visible()
            page.screenshot(path=str(shots / f"evaluate-tooltip-{page.size}.png"))
            page.mouse.move(0, 0)
            expect(tip).to_be_hidden()

    # The drill-down opens on the mode the search page uses.
    expect(page.get_by_role("radio", name="hybrid")).to_be_checked()
    for other in modes[:-1]:
        expect(page.get_by_role("radio", name=other)).not_to_be_checked()
    expect(page.get_by_text("What the numbers mean")).to_be_visible()
    plot = page.get_by_role("img", name=re.compile(r"^Recall by the number of documents shown"))
    expect(plot).to_be_visible()  # the recall plot, described in words for a screen reader
    assert all(f"{mode} " in plot.get_attribute("alt") for mode in modes)
    wait_for_layout(page)
    width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways: {width} px"
    whole_page_screenshot(page, shots / f"evaluate-{page.size}.png")
    assert serious_axe_violations(page) == []  # the finished run: table, tooltips, drill-down and plot
