"""The page as its users meet it (issue 15), in a real browser at a phone's size (375×812) and a desktop's
(1280×800): honest confidence said plainly, the answer first on a phone, one-click copy and the other
support-line tools, and the look of a health charity. Playwright drives Debian's chromium against
``streamlit run`` with the real model, on the bundled page indexed with a sidecar that gives its address.

Every step waits on state (conftest's ``wait_for_run``, Playwright's ``expect``), never on time; the timeouts
are upper bounds for a busy machine. Screenshots go to $PASSAGE_SEARCH_SHOTS (default: a temp folder).
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from pathlib import Path

import pytest
from conftest import CORPUS, LOAD_MS, RUN_MS, serious_axe_violations, wait_for_layout, wait_for_run, wait_until

# The browser, contexts and the way a page is opened are the page tests' own (one place to change them).
from test_page_browser import INVISIBLE, browser, new_context, open_page, shots  # noqa: F401

from passage_search.bench.page_bench import streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.model]

URL = "https://cancer.ca/en/cancer-information/cancer-types/soft-tissue-sarcoma/treatment"
TITLE = "Treatments for soft tissue sarcoma"
PHONE, TEL = "1-888-939-3333", "tel:+18889393333"
COPYRIGHT = "© 2024 Canadian Cancer Society"
TEAL = "rgb(11, 98, 121)"  # the theme's primaryColor, #0b6279
SIZES = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1280, "height": 800}}

# Questions a person asks, and the state each may get; each test takes the first whose state it needs, as the
# search reads it now (the thresholds are the relevance work's, so the page's tests follow them).
QUESTIONS = [
    "will they have to take my leg off?",
    "what are the side effects of chemo",
    "radiotherapy for sarcoma",
    "what is targeted therapy",
    "options once the sarcoma has spread to the lungs",
    "chemo side effects",
    "limb-sparing surgery",
    "what happens after treatment ends",
    "will i lose my leg",
    "how do I bake bread",
    "can I get a second opinion",
    "how do I renew my passport",
]


@pytest.fixture(scope="module")
def product_index(tmp_path_factory, real_embedder) -> Path:
    """The bundled page, with a sidecar that gives the publisher's address (so each card links to it)."""
    from passage_search.index.build import build_index

    root = tmp_path_factory.mktemp("product")
    corpus = shutil.copytree(CORPUS, root / "corpus")
    meta = corpus / "soft-tissue-sarcoma-treatments.meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text("utf-8")), "url": URL}), "utf-8")
    build_index(corpus, root / "index", embedder=real_embedder)
    return root / "index"


@pytest.fixture(scope="module")
def server(product_index, tmp_path_factory):
    root = tmp_path_factory.mktemp("product-server")
    env = {"PASSAGE_SEARCH_FEEDBACK": str(root / "feedback.sqlite")}  # the thumbs are on the cards too
    with open(root / "streamlit.log", "w") as log, streamlit_server(product_index, log=log, env=env) as url:
        yield url


@pytest.fixture(scope="module")
def states(product_index, real_embedder) -> dict[str, str]:
    """The first question of QUESTIONS in each state ("answer", "related", "none"), as the search reads it."""
    from passage_search.search.searcher import Searcher

    searcher = Searcher(product_index, embedder=real_embedder)
    found: dict[str, str] = {}
    for question in QUESTIONS:
        found.setdefault(searcher.search(question, k=5).confidence, question)
    return found


def asking(states: dict[str, str], state: str) -> str:
    if state not in states:
        pytest.fail(f"none of the test questions reads as {state!r} any more: {states}; add one that does")
    return states[state]


@pytest.fixture(params=list(SIZES))
def size(request) -> str:
    return request.param


@pytest.fixture
def page(browser, server, size):  # noqa: F811 - ``browser`` is the fixture imported above
    from playwright.sync_api import expect

    expect.set_options(timeout=RUN_MS)  # every expect below may wait as long as a busy machine needs
    options = {"viewport": SIZES[size], "permissions": ["clipboard-read", "clipboard-write"]}
    if size == "phone":
        options.update(is_mobile=True, has_touch=True)
    context = new_context(browser, **options)
    yield context.new_page()
    context.close()


def searched(page, question: str):
    """The line that says what was searched ("5 passages for “…”" or "Searched “…”"): only that run draws it."""
    return page.get_by_test_id("stCaptionContainer").filter(has_text=f"“{question}”")


def ask(page, server: str, question: str) -> None:
    """Open the page on ``question`` (as a shared link would) and wait until its run has finished."""
    page.goto(server + "?" + urllib.parse.urlencode({"q": question}), wait_until="commit")
    wait_for_run(page, page.get_by_label("Your question"), searched(page, question), timeout=LOAD_MS)
    wait_for_layout(page)


def type_question(page, question: str) -> None:
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")
    wait_for_run(page, searched(page, question))


def badges(page, label: str):
    return page.locator(".stMarkdownBadge").filter(has_text=label)


def visible_text(page) -> str:
    return page.evaluate("document.body.innerText").translate(INVISIBLE)


# ---- 1. honest confidence, said plainly ------------------------------------------------------------------------


def test_an_answer_is_badged_once_and_nothing_contradicts_it(page, server, states, size, shots):  # noqa: F811
    from playwright.sync_api import expect

    question = asking(states, "answer")
    ask(page, server, question)
    expect(badges(page, "Best answer")).to_have_count(1)
    text = visible_text(page)
    assert "Related — may not fully answer" not in text and "Nothing here answers that" not in text
    assert re.search(r"\b[2-9]\d* passages for “|\b1 passage for “", text), text[:500]
    assert not re.search(r"\b1 passages\b", text)
    page.screenshot(path=str(shots / f"product-answer-{size}.png"))


def test_a_related_answer_is_shown_labelled_not_hidden(page, server, states, size, shots):  # noqa: F811
    from playwright.sync_api import expect

    question = asking(states, "related")
    ask(page, server, question)
    label = page.get_by_text("Related — may not fully answer your question.", exact=True)
    expect(label).to_have_count(1)
    # The likely answer is on the page, under the label, not folded away behind a click.
    first = page.get_by_text(re.compile(r"^1\.\s")).first
    expect(first).to_be_visible()
    assert first.bounding_box()["y"] > label.bounding_box()["y"]
    expect(page.get_by_text("Closest passages anyway")).to_have_count(0)
    expect(badges(page, "Best answer")).to_have_count(0)
    assert "Nothing here answers that" not in visible_text(page)
    page.screenshot(path=str(shots / f"product-related-{size}.png"))


def test_nothing_here_names_what_the_pages_cover_and_the_line_to_call(page, server, states, size, shots):  # noqa: F811
    from playwright.sync_api import expect

    question = asking(states, "none")
    ask(page, server, question)
    note = page.get_by_test_id("stAlert").filter(has_text="Nothing here answers that.")
    expect(note).to_have_count(1)
    assert f"These pages cover “{TITLE}”" in note.inner_text().translate(INVISIBLE)
    call = note.locator(f'a[href="{TEL}"]')
    expect(call).to_have_text(PHONE)
    text = visible_text(page)
    assert not re.search(r"\d+ passages? for “", text), "a count of passages above 'nothing answers that'"
    assert f"Searched “{question}”" in text
    expect(badges(page, "Best answer")).to_have_count(0)
    expect(page.get_by_text("Closest passages anyway")).to_have_count(1)  # one click away, not presented as answers
    page.screenshot(path=str(shots / f"product-none-{size}.png"))


# ---- 3. the answer first on a phone ----------------------------------------------------------------------------

# The first card's heading and the first line of its passage: where each ends on the screen, with the page not
# scrolled. Text is found by its start (the word joiners the page puts in are left out).
_FIRST_CARD = """(start) => {
  const main = document.querySelector('[data-testid="stMain"]');
  const scrolled = window.scrollY + (main ? main.scrollTop : 0) + document.documentElement.scrollTop;
  const heading = [...document.querySelectorAll('[data-testid="stMarkdownContainer"] p')]
    .find((p) => /^1\\.\\s/.test(p.innerText));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let first = null;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replaceAll('\\u2060', '');
    const inText = node.parentElement.closest('[data-testid="stMarkdownContainer"]');
    if (inText && text.trim() && start.startsWith(text.trim().slice(0, 12))) { first = node; break; }
  }
  const range = document.createRange();
  if (first) { range.setStart(first, 0); range.setEnd(first, 1); }
  return {
    scrolled,
    viewport: window.innerHeight,
    heading: heading ? heading.getBoundingClientRect().bottom : null,
    line: first ? range.getBoundingClientRect().bottom : null,
    title: parseFloat(getComputedStyle(document.querySelector('h1')).fontSize),
  };
}"""


@pytest.mark.parametrize("state", ["answer", "related"])
def test_the_first_answer_shows_without_scrolling(
    page, server, states, real_embedder, product_index, size, state, shots  # noqa: F811
):
    from passage_search.search.searcher import Searcher

    question = asking(states, state)
    top = Searcher(product_index, embedder=real_embedder).search(question, k=5).hits[0].passage
    box = open_page(page, server)
    wait_for_layout(page)
    box.fill(question)
    box.press("Enter")
    wait_for_run(page, searched(page, question))
    wait_for_layout(page)
    at = page.evaluate(_FIRST_CARD, top.text)
    page.screenshot(path=str(shots / f"product-first-answer-{state}-{size}.png"))
    assert at["scrolled"] == 0
    assert at["title"] <= 28
    assert at["heading"] is not None and at["line"] is not None, at
    assert at["heading"] <= at["viewport"] and at["line"] <= at["viewport"], at


def test_the_banner_is_one_line_with_the_number_to_call_and_the_footer_has_the_rest(page, server, size):
    from playwright.sync_api import expect

    open_page(page, server)
    wait_for_layout(page)
    banner = page.locator(".st-key-banner")
    expect(banner).to_have_text(f"Not medical advice · Support line {PHONE}")
    line = banner.locator("p")
    height = float(line.evaluate("p => parseFloat(getComputedStyle(p).lineHeight)"))
    assert line.bounding_box()["height"] <= height + 1, "the banner wraps"
    assert line.evaluate("p => p.scrollWidth <= p.clientWidth"), "the banner is cut short"
    expect(banner.locator(f'a[href="{TEL}"]')).to_have_text(PHONE)
    # The footer: the whole disclaimer, formatted; the number to call; the copyright once; no raw notice line.
    footer = page.locator(".st-key-footer")
    expect(footer.get_by_role("heading", name="Medical disclaimer")).to_be_visible()
    text = footer.inner_text().translate(INVISIBLE)
    assert "does not replace your relationship with your doctor" in text
    assert "cannot guarantee that it is error-free or complete" in text
    assert "| |" not in visible_text(page) and "|  |" not in visible_text(page)
    assert visible_text(page).count(COPYRIGHT) == 1
    expect(footer.locator(f'a[href="{TEL}"]')).to_have_text(PHONE)


# Everything a finger or a pointer acts on: its size, and the text size of each box one types in.
_TARGETS = """() => {
  const seen = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 1 && box.height > 1 && style.visibility !== 'hidden' && box.right > 0
      && !el.closest('[data-testid="stSkipLink"], .stSkipLink') && el.getAttribute('href') !== '#stMain';
  };
  // A link inside a sentence is sized by its text (WCAG's inline exception); every other target counts.
  const inline = (el) => el.tagName === 'A' && el.closest('p') && !el.closest('.st-key-banner')
    && el.closest('p').innerText.trim() !== el.innerText.trim();
  // A box one types in is as big as the frame drawn around it (the <input> inside is a little smaller).
  const frame = (el) => el.tagName === 'INPUT'
    ? el.closest('[data-testid="stTextInputRootElement"], .react-aria-ComboBox > div, [data-baseweb="input"]') || el
    : el;
  const targets = [...new Set([...document.querySelectorAll(
    'button, a[href], input:not([type="radio"]):not([type="checkbox"]), summary, [role="radio"], '
    + '[data-testid="stRadio"] label')].map(frame))]
    .filter((el) => seen(el) && !inline(el))
    .map((el) => {
      const box = el.getBoundingClientRect();
      return {
        what: (el.getAttribute('aria-label') || el.innerText || el.tagName).trim().slice(0, 40),
        width: Math.round(box.width), height: Math.round(box.height),
      };
    });
  const inputs = [...document.querySelectorAll('input, textarea')].filter(seen)
    .map((el) => ({ what: el.getAttribute('aria-label') || el.type, size: parseFloat(getComputedStyle(el).fontSize) }));
  return { targets, inputs };
}"""


def assert_fingers_fit(page) -> None:
    found = page.evaluate(_TARGETS)
    small = [t for t in found["targets"] if t["width"] < 44 or t["height"] < 44]
    assert found["targets"] and small == [], small
    assert found["inputs"] and [i for i in found["inputs"] if i["size"] < 16] == [], found["inputs"]


def test_touch_targets_are_44_px_and_boxes_use_16_px_text(page, server, states, size):
    from playwright.sync_api import expect

    open_page(page, server)
    wait_for_layout(page)
    assert_fingers_fit(page)  # the empty page: the box, the chips, the topic buttons
    type_question(page, asking(states, "related"))
    page.get_by_text("Filters and options").click()
    expect(page.get_by_role("radiogroup", name="Ranking")).to_be_visible()
    wait_for_layout(page)
    assert_fingers_fit(page)  # results, every card's row of buttons, and the filters


# ---- 6. the support line: copy, the section, the address, Back, clear, details ----------------------------------


def test_one_press_copies_headings_passage_and_source_link_and_says_copied(page, server, states, size, shots):  # noqa: F811
    from playwright.sync_api import expect

    question = asking(states, "answer")
    box = open_page(page, server)
    box.fill(question)
    box.press("Enter")
    wait_for_run(page, searched(page, question))
    # Keyboard only: Tab from the box reaches the first card's Copy button; Enter presses it.
    first = page.get_by_role("button", name="Copy passage 1")
    expect(first).to_be_visible()
    for _ in range(40):
        page.keyboard.press("Tab")
        if first.evaluate("b => b === document.activeElement"):
            break
    expect(first).to_be_focused()
    page.keyboard.press("Enter")
    card = page.locator(".ps-copy").first
    expect(card.get_by_role("status")).to_have_text("Copied")
    copied = wait_until(lambda: page.evaluate("navigator.clipboard.readText()"), "nothing reached the clipboard")
    heading = first_card_heading_text(page)
    assert copied.startswith(heading + "\n\n"), copied[:200]
    assert copied.endswith(f"\n\nSource: Canadian Cancer Society — {URL}"), copied[-200:]
    page.screenshot(path=str(shots / f"product-copied-{size}.png"))
    # Another card's button: the clipboard holds that passage now, and only that card says so.
    page.get_by_role("button", name="Copy passage 2").click()
    expect(page.locator(".ps-copy").nth(1).get_by_role("status")).to_have_text("Copied")
    expect(card).not_to_contain_text("Copied")
    second = wait_until(
        lambda: (text := page.evaluate("navigator.clipboard.readText()")) != copied and text, "the second copy"
    )
    assert "Source: Canadian Cancer Society — " in second


def first_card_heading_text(page) -> str:
    """The first card's heading path as written (without its "1. ")."""
    heading = page.get_by_text(re.compile(r"^1\.\s")).first.inner_text().translate(INVISIBLE)
    return re.sub(r"^1\.\s*", "", heading)


def test_each_card_links_to_the_full_section(page, server, states, size):
    from playwright.sync_api import expect

    ask(page, server, asking(states, "answer"))
    links = page.get_by_role("link", name=re.compile("Read the full section"))
    expect(links.first).to_be_visible()
    hrefs = links.evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs and all(h.startswith(URL) for h in hrefs), hrefs
    assert links.first.get_attribute("target") == "_blank"


def test_filters_mode_and_k_are_in_the_address_and_a_shared_link_restores_them(page, server, browser, size):  # noqa: F811
    from playwright.sync_api import expect

    question = "surgery to remove the tumour"
    box = open_page(page, server)
    page.get_by_text("Filters and options").click()
    dense = page.get_by_role("radio", name="dense")
    expect(dense).to_be_visible()
    # A click while the opening expander is still being drawn can be lost: click until the radio holds it.
    label = page.get_by_test_id("stRadio").get_by_text("dense", exact=True)
    wait_until(lambda: dense.is_checked() or label.click() or dense.is_checked(), "the dense mode chosen")
    wait_for_run(page, dense)
    results = page.get_by_role("combobox", name="Results")
    results.click()
    page.get_by_role("option", name="3", exact=True).click()
    expect(results).to_have_value("3")
    wait_for_run(page, results)
    topics = page.get_by_test_id("stMultiSelect").filter(has_text="Topics")
    page.get_by_role("combobox", name="Topics").click()
    page.get_by_role("option", name="Surgery for soft tissue sarcoma").click()
    page.keyboard.press("Escape")
    expect(topics).to_contain_text("Surgery for soft tissue sarcoma")
    wait_for_run(page, topics)
    box.fill(question)
    box.press("Enter")
    wait_for_run(page, searched(page, question))
    page.wait_for_url(re.compile(r"[?&]q=surgery"))
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert query["mode"] == ["dense"] and query["k"] == ["3"], query
    assert query["topics"] == ["Surgery for soft tissue sarcoma"], query
    # A colleague opening the address gets the same search, with the same filters, mode and number.
    context = new_context(browser, viewport=SIZES[size])
    try:
        other = context.new_page()
        other.goto(page.url, wait_until="commit")
        wait_for_run(other, searched(other, question), timeout=LOAD_MS)
        other.get_by_text("Filters and options").click()
        expect(other.get_by_role("radio", name="dense")).to_be_checked()
        expect(other.get_by_role("combobox", name="Results")).to_have_value("3")
        expect(other.get_by_test_id("stMultiSelect").filter(has_text="Topics")).to_contain_text("Surgery")
        expect(other.get_by_text(re.compile(r"^1\.\s.*Surgery for soft tissue sarcoma$"))).to_be_visible()
        expect(other.get_by_text(re.compile(r"^2\.\s"))).to_have_count(0)  # the topic holds one passage
    finally:
        context.close()


def test_back_returns_to_the_previous_question(page, server, size):
    from playwright.sync_api import expect

    first, second = "limb-sparing surgery", "radiotherapy for sarcoma"
    box = open_page(page, server)
    type_question(page, first)
    type_question(page, second)
    page.wait_for_url(re.compile(r"q=radiotherapy"))
    page.go_back(wait_until="commit")
    wait_for_run(page, searched(page, first))
    expect(box).to_have_value(first)
    assert "q=limb-sparing+surgery" in page.url
    page.go_back(wait_until="commit")  # the page before any question
    wait_for_run(page, page.get_by_role("radiogroup", name="Example searches"))
    expect(box).to_have_value("")
    page.go_forward(wait_until="commit")
    wait_for_run(page, searched(page, first))
    expect(box).to_have_value(first)


def test_the_clear_button_empties_the_question_in_one_press(page, server, states, size):
    from playwright.sync_api import expect

    ask(page, server, asking(states, "related"))
    clear = page.get_by_test_id("stTextInput").get_by_role("button")
    expect(clear).to_be_visible()
    clear.click()
    wait_for_run(page, page.get_by_role("radiogroup", name="Example searches"))
    expect(page.get_by_label("Your question")).to_have_value("")
    page.wait_for_url(lambda url: "q=" not in url)


def test_details_say_how_a_passage_was_found_in_plain_words(page, server, states, size):
    from playwright.sync_api import expect

    ask(page, server, asking(states, "answer"))
    page.get_by_role("button", name="Details").first.click()
    found = page.get_by_text(re.compile(r"^Found by (meaning|headings|words)"))
    expect(found).to_be_visible()
    text = found.inner_text().translate(INVISIBLE)
    assert re.search(r"ranked \d+(st|nd|rd|th) by (meaning|headings|words)", text), text
    assert not re.search(r"fused|cosine|BM25|0\.\d{3}", text), text


# ---- 8. the look of a health charity ---------------------------------------------------------------------------


def test_the_page_is_named_after_its_pages_and_drawn_in_teal(page, server, states, size):
    from playwright.sync_api import expect

    box = open_page(page, server)
    expect(page).to_have_title(TITLE)
    assert page.get_by_text("search app").count() == 0 and page.get_by_test_id("stSidebarNav").count() == 0
    box.focus()
    expect(box).to_be_focused()
    ring = page.get_by_test_id("stTextInputRootElement")
    wait_until(lambda: ring.evaluate("el => getComputedStyle(el).borderColor") == TEAL, "the focus ring is not teal")
    # The topic browser shows it can be opened: a chevron on every topic.
    topics = page.locator('[class*="st-key-topic-"] button')
    expect(topics.first).to_be_visible()
    assert topics.count() == topics.filter(has_text="chevron_right").count()
    # The selected radio and the chosen filter tags are teal, not Streamlit's red.
    page.get_by_text("Filters and options").click()
    checked = page.get_by_test_id("stRadio").locator("label").filter(has=page.locator("input:checked"))
    expect(checked).to_have_count(1)
    colours = checked.evaluate("el => [...el.querySelectorAll('*')].map(e => getComputedStyle(e).backgroundColor)")
    assert TEAL in colours, colours
    assert not [c for c in colours if c.startswith("rgb(255, 75, 75")], colours


# ---- axe-core in every state these tests touch -----------------------------------------------------------------


@pytest.mark.parametrize("state", ["empty", "answer", "related", "none", "corrected", "copied", "details"])
def test_axe_finds_no_serious_or_critical_violations(page, server, states, size, state):
    from playwright.sync_api import expect

    if state == "empty":
        open_page(page, server)
        expect(page.get_by_role("radiogroup", name="Example searches")).to_be_visible()
    elif state == "corrected":  # "Showing results for …" with its "Search instead for …" button
        ask(page, server, "chemoterapy side efects")
        expect(page.get_by_role("button", name=re.compile("^Search instead for"))).to_be_visible()
    else:
        ask(page, server, asking(states, state if state in ("answer", "related", "none") else "answer"))
    if state == "copied":
        page.get_by_role("button", name="Copy passage 1").click()
        expect(page.locator(".ps-copy").first.get_by_role("status")).to_have_text("Copied")
    if state == "details":
        page.get_by_role("button", name="Details").first.click()
        expect(page.get_by_text(re.compile(r"^Found by "))).to_be_visible()
    wait_for_layout(page)
    assert serious_axe_violations(page) == []
