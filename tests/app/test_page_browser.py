"""The finished page in a real browser (Debian chromium via Playwright), with the real model and index.

Each test drives the page as a person would: the keyboard, the example chips, the URL, the copy button,
the helpful / not helpful buttons, a phone-sized screen; axe-core checks accessibility. Screenshots go to
$PASSAGE_SEARCH_SHOTS (default: a temp folder) so a person can look at them.

Every step waits on the state it needs (conftest's ``wait_for_run``: the element only that run draws, then
Streamlit's run finished), never on time; the timeouts are upper bounds for a busy machine
(PASSAGE_SEARCH_TEST_CPU_HOG=1 runs these with every core taken).
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path

import pytest
from conftest import LOAD_MS, RUN_MS, serious_axe_violations, wait_for_layout, wait_for_run, wait_until

from passage_search.bench.page_bench import CHROMIUM, CHROMIUM_ARGS, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.model]

SURGERY = "Treatments for soft tissue sarcoma › Surgery for soft tissue sarcoma"
STAGE_4 = "Treatments for soft tissue sarcoma › Treatments for stage 4 soft tissue sarcoma"
CHEMO = "Treatments for soft tissue sarcoma › Chemotherapy for soft tissue sarcoma"
HOSTILE = "<img src=x onerror=alert(1)> [click](javascript:alert(1)) $x$ chemotherapy"
# Invisible characters the page may put inside text so Streamlit cannot rewrite it (the word joiner, U+2060):
# they are not part of what a person reads.
INVISIBLE = dict.fromkeys(map(ord, "\u2060"))


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("PASSAGE_SEARCH_SHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def feedback_db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("feedback") / "feedback.sqlite"


@pytest.fixture(scope="module")
def server(real_index, feedback_db, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with (
        open(log_path, "w") as log,
        streamlit_server(real_index, log=log, env={"PASSAGE_SEARCH_FEEDBACK": str(feedback_db)}) as url,
    ):
        yield url


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing; install it with: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_context(browser, **options):
    """A browser context whose every action and navigation may take as long as a busy machine needs."""
    context = browser.new_context(**options)
    context.set_default_timeout(RUN_MS)
    context.set_default_navigation_timeout(LOAD_MS)
    return context


@pytest.fixture
def page(browser, server):
    context = new_context(
        browser, viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    yield page
    context.close()


def open_page(page, url: str):
    """Open ``url`` and wait until its first run has finished: the box drawn and nothing else still coming."""
    page.goto(url, wait_until="commit")  # then wait on the page's elements, not on the load event
    box = page.get_by_label("Your question")
    wait_for_run(page, box, timeout=LOAD_MS)
    return box


def first_card_heading(page, breadcrumb: str):
    return page.get_by_text(re.compile(r"^1\.\s*" + re.escape(breadcrumb) + "$"))


def wait_for_results(page, breadcrumb: str, timeout: float = RUN_MS) -> None:
    """The first card is shown and the run that drew it has finished (so no stale element is left over)."""
    wait_for_run(page, first_card_heading(page, breadcrumb), timeout=timeout)


def show_closest(page, question: str) -> None:
    """Once the search for ``question`` has finished: open "Closest passages anyway" if the page says nothing
    answers it (the state is tested in test_page.py; here the passages under it must work the same)."""
    from playwright.sync_api import expect

    wait_for_run(page, page.get_by_text(f"{question}”", exact=False).first)  # its caption, then the run's end
    closest = page.get_by_text("Closest passages anyway")
    if closest.count():
        closest.first.click()
        expect(page.get_by_test_id("stExpanderDetails").filter(has_text="Source:").first).to_be_visible(timeout=RUN_MS)


def test_keyboard_only_focus_starts_in_the_box_enter_searches_tab_reaches_results(page, server, shots):
    from playwright.sync_api import expect

    question = "options once the sarcoma has spread to the lungs"
    box = open_page(page, server)
    expect(box).to_be_focused(timeout=RUN_MS)  # the page's own script puts it there, once the box is drawn
    page.keyboard.type(question)
    expect(box).to_have_value(question, timeout=RUN_MS)  # every key reached the box before Enter sends it
    top = box.bounding_box()
    page.keyboard.press("Enter")
    wait_for_results(page, STAGE_4)
    assert box.bounding_box() == top  # results loading never moved the question box
    # Tab walks on from the box into the results: the first card's Copy button is reachable by keyboard.
    expect(box).to_be_focused(timeout=RUN_MS)
    expect(page.get_by_role("button", name=re.compile("Copy")).first).to_be_visible(timeout=RUN_MS)
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement ? document.activeElement.innerText : ''"))
        if "Copy" in reached[-1]:
            break
    assert any("Copy" in r for r in reached), reached
    page.screenshot(path=str(shots / "keyboard-results-1280.png"))


def test_matched_words_are_highlighted_and_hostile_text_stays_text(page, server):
    from playwright.sync_api import expect

    box = open_page(page, server)
    box.fill(HOSTILE)
    box.press("Enter")
    show_closest(page, "chemotherapy")
    expect(page.get_by_text("Source:").first).to_be_visible(timeout=RUN_MS)
    marks = page.locator("[data-testid='stMarkdownContainer'] strong").all_inner_texts()
    assert any(m.lower() == "chemotherapy" for m in marks), marks
    # The question is echoed as text; nothing of it became an element, a link or maths.
    captions = [c.translate(INVISIBLE) for c in page.get_by_test_id("stCaptionContainer").all_inner_texts()]
    assert any("<img src=x onerror=alert(1)> [click](javascript:alert(1)) $x$" in c for c in captions), captions
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator(".katex").count() == 0


def test_an_example_chip_searches_its_question(page, server):
    from playwright.sync_api import expect

    box = open_page(page, server)
    chip = page.get_by_role("radio", name="Chemotherapy", exact=True)
    expect(chip).to_be_visible(timeout=RUN_MS)
    label = chip.inner_text()
    assert label == "Chemotherapy"
    chip.click()
    # The chemotherapy section is the first answer to the chemotherapy chip.
    wait_for_run(page, page.get_by_text(f"passages for “{label}”"), first_card_heading(page, CHEMO))
    expect(box).to_have_value(label, timeout=RUN_MS)


def test_the_url_holds_the_question_both_ways(page, server, browser):
    box = open_page(page, server)
    box.fill("options once the sarcoma has spread to the lungs")
    box.press("Enter")
    wait_for_results(page, STAGE_4)
    page.wait_for_url(re.compile(r"[?&]q=options\+once"))
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert query["q"] == ["options once the sarcoma has spread to the lungs"]
    # A colleague opening the link gets the same search.
    context = new_context(browser)
    try:
        other = context.new_page()
        other.goto(page.url, wait_until="commit")
        wait_for_results(other, STAGE_4, timeout=LOAD_MS)
    finally:
        context.close()


def test_the_copy_button_copies_headings_passage_and_source(page, server):
    def clipboard() -> str:
        return page.evaluate("navigator.clipboard.readText()")

    box = open_page(page, server)
    box.fill("limb-sparing surgery")
    box.press("Enter")
    wait_for_results(page, SURGERY)
    page.get_by_role("button", name=re.compile("Copy")).first.click()
    # One press copies the passage; a page that shows it in a popover instead (st.code) copies with its icon.
    code = page.get_by_test_id("stCode").first
    wait_until(lambda: code.is_visible() or clipboard().startswith(SURGERY), "pressing Copy did nothing")
    if code.is_visible():
        code.hover()
        code.locator("button").first.click()
    # The clipboard is written asynchronously: wait for the text to arrive, then check all of it.
    copied = wait_until(
        lambda: (text := clipboard()).startswith(SURGERY) and text, "Copy never put the passage on the clipboard"
    )
    assert copied.startswith(SURGERY + "\n\n"), copied[:200]
    assert "limb-sparing surgery" in copied
    # Last, where it came from: the publisher, then the file or, when the corpus gives one, the page's address.
    assert re.search(r"\nSource: Canadian Cancer Society — \S+$", copied.rstrip()), copied[-200:]


def test_feedback_export_and_eval_round_trip(page, server, feedback_db, real_index, tmp_path, monkeypatch):
    from playwright.sync_api import expect

    from passage_search.app.cli import main
    from passage_search.eval.feedback import FeedbackStore

    box = open_page(page, server)
    box.fill("will they have to take my leg off?")
    box.press("Enter")
    # A judgment on a passage the page called only "closest" is kept like any other: it marks a missed answer.
    show_closest(page, "will they have to take my leg off?")
    wait_for_results(page, SURGERY)
    thumbs_up = page.get_by_role("radio", name="Thumbs up").first
    expect(thumbs_up).to_be_visible(timeout=RUN_MS)
    thumbs_up.click()
    # The click reaches the server in a rerun, whose callback writes the judgment to SQLite.
    wait_until(lambda: feedback_db.exists() and FeedbackStore(feedback_db).count(), "no judgment was stored")
    (judgment,) = FeedbackStore(feedback_db).judgments()
    assert judgment.query == "will they have to take my leg off?" and judgment.helpful
    assert judgment.breadcrumb == SURGERY

    out = tmp_path / "export"
    monkeypatch.chdir(tmp_path)  # eval keeps its index cache under the working folder
    assert main(["feedback", "export", "--db", str(feedback_db), "--out", str(out)]) == 0
    assert main(["eval", str(out), "--mode", "hybrid", "--out", str(tmp_path / "report"), "-q"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text("utf-8"))
    assert report["counts"]["queries"] == 1
    # The passage judged helpful is found first again for the same question.
    assert report["metrics"]["hybrid"]["ndcg@10"] == pytest.approx(1.0)


def test_every_chip_is_whole_on_a_phone_screen(browser, server, real_index, shots):
    """Every chip the corpus gives is on the empty page, whole: inside the 375 px screen, its text not clipped."""
    from playwright.sync_api import expect

    from passage_search.index.store import load_index
    from passage_search.search.topics import example_searches

    wanted = example_searches(load_index(Path(real_index)).passages)
    phone = {"width": 375, "height": 812}
    context = new_context(browser, viewport=phone, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(server, wait_until="commit")
        group = page.get_by_role("radiogroup", name="Example searches")
        wait_for_run(page, group, timeout=LOAD_MS)
        wait_for_layout(page)  # clipping is measured on the final font
        chips = group.get_by_role("radio")
        expect(chips).to_have_count(len(wanted), timeout=RUN_MS)
        page.screenshot(path=str(shots / "chips-375.png"))
        assert [c.inner_text().strip() for c in chips.all()] == wanted
        for chip in chips.all():
            box = chip.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= phone["width"], chip.inner_text()
            # Nothing of the label is cut off or hidden behind an ellipsis.
            clipped = chip.evaluate(
                "el => [el, ...el.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)"
            )
            assert not clipped, chip.inner_text()
    finally:
        context.close()


def test_a_phone_sized_screen_has_no_sideways_scroll(browser, server, shots):
    from playwright.sync_api import expect

    context = new_context(browser, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        box = open_page(page, server)
        expect(page.get_by_role("radiogroup", name="Example searches")).to_be_visible(timeout=RUN_MS)
        wait_for_layout(page)
        page.screenshot(path=str(shots / "start-375.png"))
        box.fill("chemo side effects")
        box.press("Enter")
        wait_for_results(page, CHEMO)
        wait_for_layout(page)  # the width is measured on the final font
        page.screenshot(path=str(shots / "results-375.png"), full_page=True)
        width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        assert width <= 375
        expect(page.get_by_text("Support line: 1-888-939-3333")).to_be_visible(timeout=RUN_MS)
    finally:
        context.close()


@pytest.mark.parametrize("question", ["", "chemo side effects", "how do I renew my passport"])
@pytest.mark.parametrize("width", [1280, 375])
def test_axe_finds_no_serious_or_critical_violations(browser, server, question, width, shots):
    context = new_context(browser, viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(server + (f"?q={urllib.parse.quote_plus(question)}" if question else ""), wait_until="commit")
        # What only this page's first run draws: the caption of the search, or the example chips.
        drawn = (
            page.get_by_text(re.compile("passages? for|Searched")).first
            if question
            else page.get_by_role("radiogroup", name="Example searches")
        )
        wait_for_run(page, page.get_by_label("Your question"), drawn, timeout=LOAD_MS)
        wait_for_layout(page)  # colour contrast and sizes are checked on the finished page
        assert serious_axe_violations(page) == []
    finally:
        context.close()
