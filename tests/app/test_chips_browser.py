"""The example chips on a phone-sized screen (Debian chromium via Playwright, real model and index).

Every chip the corpus gives is on the empty page, whole: inside the 375 px screen, its text not clipped.
Screenshots go to $PASSAGE_SEARCH_SHOTS (default: a temp folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from passage_search.bench.page_bench import CHROMIUM, CHROMIUM_ARGS, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.model]

PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def server(real_index, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with open(log_path, "w") as log, streamlit_server(real_index, log=log) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing; install it with: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_every_chip_is_whole_on_a_phone_screen(browser, server, real_index, tmp_path_factory):
    from playwright.sync_api import expect

    from passage_search.index.store import load_index
    from passage_search.search.topics import example_searches

    wanted = example_searches(load_index(Path(real_index)).passages)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(server)
        group = page.get_by_role("radiogroup", name="Example searches")
        expect(group).to_be_visible(timeout=90_000)
        chips = group.get_by_role("radio")
        expect(chips).to_have_count(len(wanted), timeout=30_000)
        shots = Path(os.environ.get("PASSAGE_SEARCH_SHOTS") or tmp_path_factory.mktemp("shots"))
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "chips-375.png"))
        assert [c.inner_text().strip() for c in chips.all()] == wanted
        for chip in chips.all():
            box = chip.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], chip.inner_text()
            # Nothing of the label is cut off or hidden behind an ellipsis.
            clipped = chip.evaluate(
                "el => [el, ...el.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)"
            )
            assert not clipped, chip.inner_text()
    finally:
        context.close()
