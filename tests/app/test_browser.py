"""One real browser against the real page: streamlit run + Playwright driving Debian's chromium.

Every step waits on the state it needs (conftest's ``wait_for_run``), never on time; the timeouts are upper
bounds for a busy machine (PASSAGE_SEARCH_TEST_CPU_HOG=1).
"""

from __future__ import annotations

import re

import pytest
from conftest import LOAD_MS, RUN_MS, wait_for_run

from passage_search.bench.page_bench import CHROMIUM, CHROMIUM_ARGS, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.model]

QUESTION = "options once the sarcoma has spread to the lungs"
STAGE_4 = "Treatments for soft tissue sarcoma › Treatments for stage 4 soft tissue sarcoma"


@pytest.fixture
def server(real_index, tmp_path):
    with open(tmp_path / "streamlit.log", "w") as log, streamlit_server(real_index, log=log) as url:
        yield url


def new_page(browser):
    """A page in its own context (a visitor with their own cookies and Streamlit session), with every action and
    navigation allowed as long as a busy machine needs."""
    context = browser.new_context()
    context.set_default_timeout(RUN_MS)
    context.set_default_navigation_timeout(LOAD_MS)
    return context.new_page()


def first_card_heading(page, breadcrumb: str):
    """The first card's heading line, which reads "1. <breadcrumb>"."""
    return page.get_by_text(re.compile(r"^1\.\s*" + re.escape(breadcrumb) + "$"))


def open_page(page, url: str):
    """Open ``url`` and wait until its first run has finished: the box drawn and nothing else still coming."""
    page.goto(url, wait_until="commit")  # then wait on the page's elements, not on the load event
    box = page.get_by_label("Your question")
    wait_for_run(page, box, timeout=LOAD_MS)
    return box


def test_question_in_a_real_browser_shows_the_stage_4_passage(server, tmp_path):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing; install it with: apt-get install chromium"
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = new_page(browser)
            box = open_page(page, server)
            box.fill(QUESTION)
            box.press("Enter")
            try:
                # The stage 4 passage ranks first, and its card shows where it came from.
                wait_for_run(page, first_card_heading(page, STAGE_4))
                expect(page.get_by_text("Source:").first).to_be_visible(timeout=RUN_MS)
            finally:
                page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
        finally:
            browser.close()


SESSIONS = [
    ("options once the sarcoma has spread to the lungs", STAGE_4),
    ("will they have to take my leg off?", "Treatments for soft tissue sarcoma › Surgery for soft tissue sarcoma"),
    ("radiotherapy for sarcoma", "Treatments for soft tissue sarcoma › Radiation therapy for soft tissue sarcoma"),
    (
        "what drugs are used for chemotherapy",
        "Treatments for soft tissue sarcoma › Chemotherapy for soft tissue sarcoma",
    ),
    (
        "my tumour came back after treatment, what now?",
        "Treatments for soft tissue sarcoma › Treatments for recurrent soft tissue sarcoma",
    ),
]


def test_five_simultaneous_sessions_each_get_their_own_results(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # Five visitors with their own cookies and Streamlit sessions.
            pages = [new_page(browser) for _ in SESSIONS]
            for page in pages:
                page.goto(server, wait_until="commit")
            for page, (question, _) in zip(pages, SESSIONS, strict=True):
                box = page.get_by_label("Your question")
                wait_for_run(page, box, timeout=LOAD_MS)  # the page's first run has finished
                box.fill(question)
            # All five press Enter before any result is awaited, so the server runs them side by side.
            for page in pages:
                page.get_by_label("Your question").press("Enter")
            for i, (page, (question, breadcrumb)) in enumerate(zip(pages, SESSIONS, strict=True)):
                try:
                    caption = page.get_by_text(f"“{question}”", exact=False)
                    wait_for_run(page, caption.first)
                    closest = page.get_by_text("Closest passages anyway")  # the page says nothing answers it
                    if closest.count():
                        closest.first.click()
                    expect(first_card_heading(page, breadcrumb)).to_be_visible(timeout=RUN_MS)
                    expect(caption).to_be_visible(timeout=RUN_MS)  # one caption: this session's question, no one else's
                finally:
                    page.screenshot(path=str(tmp_path / f"session-{i}.png"), full_page=True)
        finally:
            browser.close()
