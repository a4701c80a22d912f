"""In a real browser (Debian chromium via Playwright), on a phone and a laptop screen: "Showing results for …"
with its one-click "Search instead for …", and marks drawn as one box per phrase with no gap before punctuation.

The server and browser are test_page_browser.py's (the real model and the bundled corpus). Every step waits on
the state it needs (conftest's ``wait_for_run``), never on time. Screenshots go to $PASSAGE_SEARCH_SHOTS
(default: a temp folder).
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path

import pytest
from conftest import LOAD_MS, wait_for_layout, wait_for_run
from test_page_browser import (  # noqa: F401 - browser, feedback_db and server are fixtures used by name
    SURGERY,
    browser,
    feedback_db,
    first_card_heading,
    new_context,
    open_page,
    server,
)

pytestmark = [pytest.mark.browser, pytest.mark.model]

TYPED = "chemoterapy side efects"
# The bundled page has "chemotherapy" but no word near "efects": only the first word is repaired.
SEARCHED = "chemotherapy side efects"
RADIATION = "Treatments for soft tissue sarcoma › Radiation therapy for soft tissue sarcoma"
SIZES = {"phone": {"width": 375, "height": 812}, "laptop": {"width": 1280, "height": 800}}


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("PASSAGE_SEARCH_SHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def screen(request, browser, server):  # noqa: F811 - the imported fixtures, by name
    context = new_context(browser, viewport=SIZES[request.param])
    page = context.new_page()
    yield request.param, page
    context.close()


def query_of(url: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlparse(url).query)


def ask(page, question: str, *shown) -> None:
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")
    wait_for_run(page, *shown)


def test_a_misspelt_question_says_what_was_searched_and_one_click_searches_the_words_as_typed(
    screen, server, browser, shots  # noqa: F811
):
    from playwright.sync_api import expect

    size, page = screen
    open_page(page, server)
    showing = page.get_by_text(f"Showing results for {SEARCHED}")
    ask(page, TYPED, showing)
    # The repaired word is marked (bold italics); the words left as typed are not.
    expect(page.locator("em strong, strong em").filter(has_text=re.compile("^chemotherapy$"))).to_have_count(1)
    instead = page.get_by_role("button", name=f"Search instead for {TYPED}")
    expect(instead).to_be_visible()
    wait_for_layout(page)
    page.screenshot(path=str(shots / f"corrected-question-{SIZES[size]['width']}.png"))
    assert "exact" not in query_of(page.url)

    instead.click()
    wait_for_run(page, page.get_by_text("Searched exactly as typed."))
    expect(page.get_by_text("Showing results for")).to_have_count(0)
    page.wait_for_url(re.compile(r"[?&]exact=1(&|$)"))
    assert query_of(page.url)["q"] == [TYPED]
    expect(page.get_by_label("Your question")).to_have_value(TYPED)
    page.screenshot(path=str(shots / f"searched-as-typed-{SIZES[size]['width']}.png"))

    # The address reproduces it: a colleague opening the link gets the search as typed.
    context = new_context(browser, viewport=SIZES[size])
    try:
        other = context.new_page()
        other.goto(page.url, wait_until="commit")
        wait_for_run(other, other.get_by_text("Searched exactly as typed."), timeout=LOAD_MS)
        expect(other.get_by_text("Showing results for")).to_have_count(0)
    finally:
        context.close()

    # The next question is repaired again, and the address drops exact=1.
    ask(page, "chemoterapy", page.get_by_text("Showing results for chemotherapy", exact=True))
    page.wait_for_url(lambda url: "exact" not in query_of(url) and query_of(url).get("q") == ["chemoterapy"])


def test_a_question_only_added_to_offers_to_search_only_its_words(screen, server):  # noqa: F811
    from playwright.sync_api import expect

    _size, page = screen
    open_page(page, server)
    question = "what if it comes back"  # a lay phrase: its clinical words are added, no word is repaired
    ask(page, question, page.get_by_text(re.compile(r"also searching for “recurrent”")))
    expect(page.get_by_role("button", name=f"Search only for {question}")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Search instead for"))).to_have_count(0)


# For each mark box on the page: its text, its bold text, what sits just before and after it, and the widest
# gap between the end of a bold word and punctuation right after it inside the box (px).
MARKS_JS = """
(root) => [...root.querySelectorAll('span.stMarkdownColoredBackground')].map((box) => {
  const before = box.previousSibling ? box.previousSibling.textContent : '';
  const after = box.nextSibling ? box.nextSibling.textContent : '';
  let gap = 0;
  for (const strong of box.querySelectorAll('strong')) {
    const next = strong.nextSibling;
    if (next && next.nodeType === Node.TEXT_NODE && /^[^\\s\\w]/.test(next.textContent)) {
      const range = document.createRange();
      range.setStart(next, 0);
      range.setEnd(next, 1);
      gap = Math.max(gap, range.getBoundingClientRect().left - strong.getBoundingClientRect().right);
    }
  }
  return {text: box.textContent, bold: [...box.querySelectorAll('strong')].map((s) => s.textContent),
          before: before.slice(-1), after: after.slice(0, 1), gap};
})
"""


@pytest.mark.parametrize(
    ("question", "breadcrumb", "box", "bold"),
    [
        ("limb-sparing surgery", SURGERY, "limb-sparing surgery,", "limb-sparing surgery"),
        ("radiation therapy", RADIATION, "radiation therapy.", "radiation therapy"),
    ],
    ids=["hyphen-and-comma", "phrase-and-full-stop"],
)
def test_marks_are_one_box_per_phrase_with_no_gap_before_punctuation(
    screen, server, shots, question, breadcrumb, box, bold  # noqa: F811
):
    size, page = screen
    open_page(page, server)
    heading = first_card_heading(page, breadcrumb)
    ask(page, question, heading)
    # The first card's passage: the Markdown that holds the phrase's box.
    passage = page.get_by_test_id("stMarkdownContainer").filter(
        has=page.locator("span.stMarkdownColoredBackground", has_text=box)
    ).first
    marks = passage.evaluate(MARKS_JS)
    # The phrase is one box (one element), its punctuation inside it, after the bold words.
    [phrase] = [m for m in marks if m["text"] == box]
    assert phrase["bold"] == [bold] and phrase["before"] == " "
    for mark in marks:
        # A box's padding only ever sits next to a space (or the start or end of a line): never before a comma.
        assert mark["before"] in ("", " ", "\n") and mark["after"] in ("", " ", "\n"), mark
        assert mark["gap"] < 1, mark
        # Words in most passages of the corpus are not marked.
        assert not {"soft", "tissue", "sarcoma", "treatment"} & {w.lower() for b in mark["bold"] for w in b.split()}
    if size == "phone":
        passage.scroll_into_view_if_needed()
        wait_for_layout(page)
        page.screenshot(path=str(shots / f"marks-{question.split()[0]}-375.png"))


def test_the_showing_line_and_its_button_keep_a_hostile_question_as_text(screen, server):  # noqa: F811
    from playwright.sync_api import expect

    _size, page = screen
    open_page(page, server)
    question = "<img src=x onerror=alert(1)> [chemoterapy](javascript:alert(1)) $x$"
    line = page.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile("^Showing results for"))
    ask(page, question, line)
    shown = line.inner_text().replace("\u2060", "")  # the word joiners the page puts inside rewritable text
    # "onerror" and "chemoterapy" are repaired to the page's words; everything else reads as typed.
    assert shown == "Showing results for <img src=x error=alert(1)> [chemotherapy](javascript:alert(1)) $x$"
    expect(page.get_by_role("button", name=re.compile(r"^Search instead for <img src=x"))).to_be_visible()
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator(".katex").count() == 0
