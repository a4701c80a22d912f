"""The finished page in a real browser (Debian chromium via Playwright), with the real model and index.

Each test drives the page as a person would: the keyboard, the example chips, the URL, the copy button,
the helpful / not helpful buttons, a phone-sized screen; axe-core checks accessibility. Screenshots go to
$PASSAGE_SEARCH_SHOTS (default: a temp folder) so a person can look at them.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path

import pytest

from passage_search.bench.page_bench import CHROMIUM, CHROMIUM_ARGS, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.model]

SURGERY = "Treatments for soft tissue sarcoma › Surgery for soft tissue sarcoma"
STAGE_4 = "Treatments for soft tissue sarcoma › Treatments for stage 4 soft tissue sarcoma"
CHEMO = "Treatments for soft tissue sarcoma › Chemotherapy for soft tissue sarcoma"
HOSTILE = "<img src=x onerror=alert(1)> [click](javascript:alert(1)) $x$ chemotherapy"


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
    with open(log_path, "w") as log, streamlit_server(
        real_index, log=log, env={"PASSAGE_SEARCH_FEEDBACK": str(feedback_db)}
    ) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing; install it with: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["clipboard-read",
                                                                                       "clipboard-write"])
    page = context.new_page()
    yield page
    context.close()


def open_page(page, url: str):
    from playwright.sync_api import expect

    page.goto(url)
    box = page.get_by_label("Your question")
    expect(box).to_be_visible(timeout=90_000)
    return box


def first_card_heading(page, breadcrumb: str):
    return page.get_by_text(re.compile(r"^1\.\s*" + re.escape(breadcrumb) + "$"))


def wait_for_results(page, breadcrumb: str) -> None:
    """The first card is shown and the rerun that drew it has finished (so no stale element is left over)."""
    from playwright.sync_api import expect

    expect(first_card_heading(page, breadcrumb)).to_be_visible(timeout=60_000)
    # Streamlit keeps the previous run's elements on screen until the new run ends: on a busy machine the
    # first card can be drawn while the empty page's topic buttons still sit below it.
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-script-state", "notRunning",
                                                                   timeout=60_000)


def show_closest(page, question: str) -> None:
    """Once the search for ``question`` has finished: open "Closest passages anyway" if the page says nothing
    answers it (the state is tested in test_page.py; here the passages under it must work the same)."""
    from playwright.sync_api import expect

    expect(page.get_by_text(f"{question}”", exact=False).first).to_be_visible(timeout=60_000)  # its caption
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-script-state", "notRunning",
                                                                   timeout=60_000)
    closest = page.get_by_text("Closest passages anyway")
    if closest.count():
        closest.first.click()


def test_keyboard_only_focus_starts_in_the_box_enter_searches_tab_reaches_results(page, server, shots):
    box = open_page(page, server)
    page.wait_for_function("document.activeElement && document.activeElement.getAttribute('aria-label') "
                           "=== 'Your question'", timeout=15_000)
    page.keyboard.type("options once the sarcoma has spread to the lungs")
    page.keyboard.press("Enter")
    wait_for_results(page, STAGE_4)
    top = box.bounding_box()
    # Tab walks from the box into the results: the first card's Copy button is reachable by keyboard.
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement ? document.activeElement.innerText : ''"))
        if "Copy" in reached[-1]:
            break
    assert any("Copy" in r for r in reached), reached
    assert box.bounding_box() == top  # results loading never moved the question box
    page.screenshot(path=str(shots / "keyboard-results-1280.png"))


def test_matched_words_are_highlighted_and_hostile_text_stays_text(page, server):
    from playwright.sync_api import expect

    box = open_page(page, server)
    box.fill(HOSTILE)
    box.press("Enter")
    show_closest(page, "chemotherapy")
    expect(page.get_by_text("Source:").first).to_be_visible(timeout=60_000)
    marks = page.locator("[data-testid='stMarkdownContainer'] strong").all_inner_texts()
    assert any(m.lower() == "chemotherapy" for m in marks), marks
    # The question is echoed as text; nothing of it became an element, a link or maths.
    assert page.get_by_text("<img src=x onerror=alert(1)> [click](javascript:alert(1)) $x$", exact=False).count()
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator(".katex").count() == 0


def test_an_example_chip_searches_its_question(page, server):
    from playwright.sync_api import expect

    open_page(page, server)
    chip = page.get_by_role("radio", name="Chemotherapy", exact=True)
    expect(chip).to_be_visible(timeout=30_000)
    label = chip.inner_text()
    assert label == "Chemotherapy"
    chip.click()
    expect(page.get_by_text(f"passages for “{label}”")).to_be_visible(timeout=60_000)
    expect(page.get_by_label("Your question")).to_have_value(label)
    # The chemotherapy section is the first answer to the chemotherapy chip.
    expect(page.get_by_text(re.compile(r"^1\.\s*" + re.escape(CHEMO) + "$"))).to_be_visible()


def test_the_url_holds_the_question_both_ways(page, server, browser):
    box = open_page(page, server)
    box.fill("options once the sarcoma has spread to the lungs")
    box.press("Enter")
    wait_for_results(page, STAGE_4)
    page.wait_for_url(re.compile(r"[?&]q=options\+once"), timeout=15_000)
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert query["q"] == ["options once the sarcoma has spread to the lungs"]
    # A colleague opening the link gets the same search.
    other = browser.new_page()
    try:
        other.goto(page.url)
        wait_for_results(other, STAGE_4)
    finally:
        other.close()


def test_the_copy_button_copies_headings_passage_and_source(page, server):
    from playwright.sync_api import expect

    box = open_page(page, server)
    box.fill("limb-sparing surgery")
    box.press("Enter")
    wait_for_results(page, SURGERY)
    page.get_by_role("button", name=re.compile("Copy")).first.click()
    code = page.locator("[data-testid='stCode']").first
    expect(code).to_be_visible(timeout=10_000)
    code.hover()
    copy = code.locator("button").first
    copy.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(SURGERY + "\n\n"), copied[:200]
    assert "limb-sparing surgery" in copied
    assert copied.rstrip().endswith("Source: Canadian Cancer Society — soft-tissue-sarcoma-treatments.txt")


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
    expect(thumbs_up).to_be_visible(timeout=10_000)
    thumbs_up.click()
    for _ in range(50):  # the click reaches the server and SQLite in a rerun
        if feedback_db.exists() and FeedbackStore(feedback_db).count():
            break
        page.wait_for_timeout(200)
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
    context = browser.new_context(viewport=phone, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(server)
        group = page.get_by_role("radiogroup", name="Example searches")
        expect(group).to_be_visible(timeout=90_000)
        chips = group.get_by_role("radio")
        expect(chips).to_have_count(len(wanted), timeout=30_000)
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
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        from playwright.sync_api import expect

        box = open_page(page, server)
        expect(page.get_by_role("radiogroup", name="Example searches")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "start-375.png"))
        box.fill("chemo side effects")
        box.press("Enter")
        wait_for_results(page, CHEMO)
        page.screenshot(path=str(shots / "results-375.png"), full_page=True)
        width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        assert width <= 375
        assert page.get_by_text("Support line: 1-888-939-3333").is_visible()
    finally:
        context.close()


@pytest.mark.parametrize("question", ["", "chemo side effects", "how do I renew my passport"])
@pytest.mark.parametrize("width", [1280, 375])
def test_axe_finds_no_serious_or_critical_violations(browser, server, question, width, shots):
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(server + (f"?q={urllib.parse.quote_plus(question)}" if question else ""))
        expect(page.get_by_label("Your question")).to_be_visible(timeout=90_000)
        if question:
            expect(page.get_by_text(re.compile("passages? for|Searched")).first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1000)  # let Streamlit finish drawing
        results = Axe().run(page)
        bad = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == []
    finally:
        context.close()
