"""One real browser against the real page: streamlit run + Playwright driving Debian's chromium."""

from __future__ import annotations

import re

import pytest

from passage_search.bench.page_bench import CHROMIUM, CHROMIUM_ARGS, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.model]

QUESTION = "options once the sarcoma has spread to the lungs"
STAGE_4 = "Treatments for soft tissue sarcoma › Treatments for stage 4 soft tissue sarcoma"


@pytest.fixture
def server(real_index, tmp_path):
    with open(tmp_path / "streamlit.log", "w") as log, streamlit_server(real_index, log=log) as url:
        yield url


def test_question_in_a_real_browser_shows_the_stage_4_passage(server, tmp_path):
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing; install it with: apt-get install chromium"
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(server)
            box = page.get_by_label("Your question")
            expect(box).to_be_visible(timeout=90_000)
            box.fill(QUESTION)
            box.press("Enter")
            try:
                expect(page.get_by_text("Source:").first).to_be_visible(timeout=60_000)
                # The first card's heading line reads "1. <breadcrumb>": the stage 4 passage ranks first.
                first = page.get_by_text(re.compile(r"^1\.\s*" + re.escape(STAGE_4) + "$"))
                expect(first).to_be_visible(timeout=60_000)
            finally:
                page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
        finally:
            browser.close()


SESSIONS = [
    ("options once the sarcoma has spread to the lungs", STAGE_4),
    ("will they have to take my leg off?", "Treatments for soft tissue sarcoma › Surgery for soft tissue sarcoma"),
    ("radiotherapy for sarcoma", "Treatments for soft tissue sarcoma › Radiation therapy for soft tissue sarcoma"),
    ("what drugs are used for chemotherapy",
     "Treatments for soft tissue sarcoma › Chemotherapy for soft tissue sarcoma"),
    ("my tumour came back after treatment, what now?",
     "Treatments for soft tissue sarcoma › Treatments for recurrent soft tissue sarcoma"),
]


def test_five_simultaneous_sessions_each_get_their_own_results(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # Separate browser contexts: five visitors with their own cookies and Streamlit sessions.
            pages = [browser.new_context().new_page() for _ in SESSIONS]
            for page in pages:
                page.goto(server)
            for page, (question, _) in zip(pages, SESSIONS, strict=True):
                box = page.get_by_label("Your question")
                expect(box).to_be_visible(timeout=90_000)
                box.fill(question)
            # All five press Enter before any result is awaited, so the server runs them side by side.
            for page in pages:
                page.get_by_label("Your question").press("Enter")
            for i, (page, (question, breadcrumb)) in enumerate(zip(pages, SESSIONS, strict=True)):
                try:
                    expect(page.get_by_text(f"“{question}”", exact=False).first).to_be_visible(timeout=60_000)
                    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
                        "data-test-script-state", "notRunning", timeout=60_000)
                    closest = page.get_by_text("Closest passages anyway")  # the page says nothing answers it
                    if closest.count():
                        closest.first.click()
                    first = page.get_by_text(re.compile(r"^1\.\s*" + re.escape(breadcrumb) + "$"))
                    expect(first).to_be_visible(timeout=60_000)
                    expect(page.get_by_text(f"“{question}”", exact=False)).to_be_visible(timeout=10_000)
                finally:
                    page.screenshot(path=str(tmp_path / f"session-{i}.png"), full_page=True)
        finally:
            browser.close()
