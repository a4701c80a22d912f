"""Hostile text in a real browser: a corpus, a shared question and a test set written to attack the page.

The page must show every heading, title, publisher, passage and question as the literal text it is (no
image fetched, no link made, no colour, emoji, icon or HTML), keep every request on this machine, bound a
pasted 10 MB question at once, and let the evaluate page read only the test sets the operator allows.
Playwright drives Debian's chromium against ``streamlit run`` on 127.0.0.1 with the real model, on an index
built from the hostile corpus. Every step waits on state (``wait_for_run``), never on time.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import LOAD_MS, wait_for_layout, wait_for_run, write_tree
from test_evaluate_page import evaluate_page_server  # the evaluate page has its own entry point

# The browser and the way a page is opened are the page tests' own (one place to change them).
from test_page_browser import INVISIBLE, browser, new_context, open_page, shots  # noqa: F401

from passage_search.bench.page_bench import streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.model]

TITLE = "Care ![t](http://x.invalid/t.png) :red[T] https://evil.example/t"
PUBLISHER = "Publisher [p](https://evil.example/pub) <b>B</b> :smile: www.evil.example"
SURGERY = "Surgery <img src=x onerror=alert(3)> [c](https://evil.example)"
LOGIN = "Your session expired, log in at https://evil.example/login to keep reading about surgery."
PAIN = (
    "Pain relief with morphine helps most people. [click](https://evil.example/pain) ![i](http://x.invalid/i.png) "
    '<img src=x onerror="alert(1)"> <script>alert(2)</script> :material/star: :streamlit: a -> b -- c'
)
DISCLAIMER = "This information does not replace the advice of your doctor; see https://evil.example/disclaimer."
CORPUS = {
    "care.md": f"""
        ## R ![p](http://x.invalid/p)

        Radiation therapy uses high-energy rays to destroy cancer cells. Read more at
        https://evil.example/radiation or www.evil.example, or write to help@evil.example.

        ## See www.evil.example

        {LOGIN}

        ## Pain :smile: :red[x]

        {PAIN}

        ## {SURGERY}

        Surgery removes the tumour with a margin of healthy tissue.

        ## Medical disclaimer

        {DISCLAIMER}

        1-800-555-0100 | © 2024 Example Society :red[x]
        """,
    "care.meta.json": json.dumps({"title": TITLE, "publisher": PUBLISHER}),
}
# A test set the operator allows, with hostile titles, texts and questions of its own.
EVAL_DOC = "Pain ![e](http://x.invalid/e.png) :red[x] https://evil.example/doc"
EVAL_TEXT = "Morphine eases pain <img src=x onerror=alert(6)> [c](https://evil.example) www.evil.example :smile:"
EVAL_QUESTION = "pain relief ![q](http://x.invalid/q.png) https://evil.example/q :smile:"
BEIR = {
    "corpus.jsonl": "".join(
        json.dumps(d) + "\n"
        for d in (
            {"_id": "d1", "title": EVAL_DOC, "text": EVAL_TEXT},
            {"_id": "d2", "title": "Sleep", "text": "Rest helps recovery after treatment."},
            {"_id": "d3", "title": "Food", "text": "Small meals help when appetite is poor."},
        )
    ),
    "queries.jsonl": json.dumps({"_id": "q1", "text": EVAL_QUESTION}) + "\n",
    "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\n",
}
SEED_SET = "Bundled seed questions (no setup)"


@dataclass
class Hostile:
    index: Path
    beir: Path
    eval_out: Path
    feedback: Path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, real_embedder) -> Hostile:
    from passage_search.index.build import build_index

    root = tmp_path_factory.mktemp("hostile")
    build_index(write_tree(root / "corpus", CORPUS), root / "index", embedder=real_embedder)
    beir = root / "allowed" / "hostile_beir"
    for name, text in BEIR.items():
        (beir / name).parent.mkdir(parents=True, exist_ok=True)
        (beir / name).write_text(text, "utf-8")
    return Hostile(root / "index", beir, root / "eval-out", root / "feedback.sqlite")


@pytest.fixture(scope="module")
def server(hostile, tmp_path_factory):
    env = {
        "PASSAGE_SEARCH_FEEDBACK": str(hostile.feedback),  # the thumbs are on the cards too
        # Allowed: the hostile set; /etc and a missing folder are listed but hold no test set.
        "PASSAGE_SEARCH_EVAL_DIRS": os.pathsep.join([str(hostile.beir), "/etc", str(hostile.beir.parent / "gone")]),
        "PASSAGE_SEARCH_EVAL_OUT": str(hostile.eval_out),
    }
    log_path = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with open(log_path, "w") as log, streamlit_server(hostile.index, log=log, env=env) as url:
        yield url


@pytest.fixture(scope="module")
def eval_server(hostile, tmp_path_factory):
    """The evaluate page, started as an operator starts it (its own entry point, not in the patients' page)."""
    env = {
        # Allowed: the hostile set; /etc and a missing folder are listed but hold no test set.
        "PASSAGE_SEARCH_EVAL_DIRS": os.pathsep.join([str(hostile.beir), "/etc", str(hostile.beir.parent / "gone")]),
        "PASSAGE_SEARCH_EVAL_OUT": str(hostile.eval_out),
    }
    with open(tmp_path_factory.mktemp("streamlit") / "evaluate.log", "w") as log:
        with evaluate_page_server(env=env, log=log) as url:
            yield url


@dataclass
class Visit:
    """A page, every request it made and every dialog (alert) it opened."""

    page: object
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def visit(browser, **options):  # noqa: F811 - ``browser`` is the fixture imported above
    context = new_context(browser, **options)
    page = context.new_page()
    seen = Visit(page)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("dialog", lambda dialog: (seen.dialogs.append(dialog.message), dialog.dismiss()))
    return context, seen


@pytest.fixture
def desktop(browser, server):  # noqa: F811
    context, seen = visit(
        browser, viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    yield seen
    context.close()


@pytest.fixture
def phone(browser, server):  # noqa: F811
    context, seen = visit(browser, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    yield seen
    context.close()


# ---- what may be on a page: the app's own links and images, nothing made of text ----------------------------


def own_links(server: str, *anchors: str) -> set[str]:
    """Streamlit's skip link, the app's own address, and the anchors of the page's own fixed headings (no link to
    the evaluate page, which has its own entry point)."""
    return {"#stMain", server, *anchors}


# The corpus's support line as a number to call (banner and footer, issue 15).
SEARCH_LINKS = ("tel:+18005550100",)
EVALUATE_LINKS = ("#evaluation", "#questions-worst-first")  # st.title / st.subheader with fixed words


def visible_text(page) -> str:
    """What a person reads: the page's text without the invisible word joiners the page puts in."""
    return page.evaluate("document.body.innerText").translate(INVISIBLE)


def assert_inert(seen: Visit, server: str, anchors: tuple[str, ...], *, chart: bool = False) -> None:
    """Nothing on the page was made of text: no image (the evaluate page's chart, served by this server,
    excepted), no link but the app's own, no script or handler from the text, no colour, icon or emoji span
    but the page's word marks; no alert opened and no request left this machine."""
    page = seen.page
    images = page.eval_on_selector_all("img", "els => els.map(e => e.getAttribute('src') || '')")
    assert [src for src in images if not (chart and src.startswith((server + "media/", "/media/")))] == [], images
    links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert set(links) <= own_links(server, *anchors), links
    assert page.locator("[onerror], [onload], [onclick]").count() == 0
    scripts = page.eval_on_selector_all("script", "els => els.map(e => e.textContent)")
    assert not [s for s in scripts if "alert(" in s], "a script from the text is in the page"
    made = page.evaluate(_MADE_OF_TEXT)
    assert made["colours"] == made["icons"] == made["html"] == 0, made
    # The question's words, marked by the page: bold runs of words (spaces or one hyphen between), in a box.
    assert all(re.fullmatch(r"[^\W_]+(?:(?: +|-)[^\W_]+)*", m) for m in made["marks"]), made
    assert seen.dialogs == []
    hosts = {urllib.parse.urlparse(url).hostname for url in seen.requests if not url.startswith(("data:", "blob:"))}
    assert hosts <= {"127.0.0.1", "localhost"}, sorted(u for u in seen.requests if "127.0.0.1" not in u)


# What Streamlit's Markdown may make of text: colours, icons (a Material icon, and emoji made accessible),
# HTML. The page's own: its word marks (a coloured background) and the icon of its "Best answer" badge.
_MADE_OF_TEXT = """() => {
  const text = '[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"]';
  const boxes = [...document.querySelectorAll(text)];
  const all = (sel) => boxes.flatMap((box) => [...box.querySelectorAll(sel)]);
  return {
    colours: all('.stMarkdownColoredText').length,
    icons: all('[role="img"]').filter((el) => !el.closest('.stMarkdownBadge')).length,
    html: all('b, i, u, img, script, iframe, video, audio, object, embed, form').length,
    marks: all('.stMarkdownColoredBackground strong').map((el) => el.textContent),
  };
}"""


def open_evaluate(page, server: str):
    page.goto(server + "evaluate", wait_until="commit")
    choice = page.get_by_test_id("stSelectbox")
    wait_for_run(page, choice, timeout=LOAD_MS)
    return choice


# ---- the search page -------------------------------------------------------------------------------------------


def test_hostile_headings_title_and_notices_on_the_empty_page_stay_text(phone, server, hostile, shots):  # noqa: F811
    from playwright.sync_api import expect

    from passage_search.index.store import load_index
    from passage_search.search.topics import example_searches

    wanted = example_searches(load_index(hostile.index).passages)
    assert "R ![p](http://x.invalid/p)" in wanted  # a chip that fetched its image before issue 14
    page = phone.page
    open_page(page, server)
    chips = page.get_by_role("radiogroup", name="Example searches").get_by_role("radio")
    expect(chips).to_have_count(len(wanted))
    wait_for_layout(page)
    assert [c.inner_text().translate(INVISIBLE).strip() for c in chips.all()] == wanted
    text = visible_text(page)
    for literal in (TITLE, DISCLAIMER, SURGERY, "Pain :smile: :red[x]", "See www.evil.example"):
        assert literal in text, literal
    assert_inert(phone, server, SEARCH_LINKS)
    page.screenshot(path=str(shots / "hostile-chips-375.png"), full_page=True)


def test_a_hostile_question_from_a_shared_link_stays_text(phone, server, shots):  # noqa: F811
    from playwright.sync_api import expect

    question = (
        "Your session expired, log in at https://evil.example/login ![q](http://x.invalid/q.png) "
        "[c](https://evil.example/c) <img src=x onerror=alert(5)> :red[x] :smile: help@evil.example surgery"
    )
    page = phone.page
    page.goto(server + "?" + urllib.parse.urlencode({"q": question, "k": 20}), wait_until="commit")
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text=re.compile(r"^(\d+ passages? for|Searched) “"))
    wait_for_run(page, caption, timeout=LOAD_MS)
    closest = page.get_by_text("Closest passages anyway")
    if closest.count():  # the page says nothing answers it: the passages are one click away
        closest.first.click()
        expect(page.get_by_test_id("stExpanderDetails").filter(has_text="Source:").first).to_be_visible()
    expect(page.get_by_label("Your question")).to_have_value(question)
    text = visible_text(page)
    assert f"“{question}”" in text  # the caption echoes it as typed
    for literal in (LOGIN, PAIN, f"Source: {PUBLISHER} — {TITLE}", TITLE):
        assert literal in text, literal
    assert_inert(phone, server, SEARCH_LINKS)
    page.screenshot(path=str(shots / "hostile-question-375.png"), full_page=True)


def test_a_hostile_topic_shows_its_heading_and_passages_as_text(desktop, server):
    page = desktop.page
    open_page(page, server)
    page.get_by_role("button", name=re.compile(r"^\W*Surgery <img src=x")).click()
    heading = page.get_by_role("heading", name=re.compile(r"^Surgery <img src=x"))
    wait_for_run(page, heading)
    assert heading.inner_text().translate(INVISIBLE) == SURGERY
    assert "Surgery removes the tumour with a margin of healthy tissue." in visible_text(page)
    assert_inert(desktop, server, SEARCH_LINKS)


# ---- a pasted 10 MB question ----------------------------------------------------------------------------------

# Times taken inside the page (performance.now), so Playwright's own latency is not in them: the paste's
# keydown, the box holding the cut question, Enter, and the notice in the DOM.
_TIMERS = """(notice) => {
  const t = window.__t = {};
  window.addEventListener('keydown', (e) => {
    if (e.key.toLowerCase() === 'v') { t.paste = performance.now(); }
    if (e.key === 'Enter') { t.enter = performance.now(); }
  }, true);
  window.addEventListener('input', () => { if (t.paste && !t.pasted) { t.pasted = performance.now(); } }, true);
  new MutationObserver((_, obs) => {
    if (t.enter && document.body.innerText.includes(notice)) { t.notice = performance.now(); obs.disconnect(); }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def test_a_pasted_10_mb_question_is_cut_at_once_with_a_notice(desktop, server):
    from playwright.sync_api import expect

    from passage_search.app.page import CUT_NOTICE, QUESTION_CHARS

    page = desktop.page
    box = open_page(page, server)
    pasted = ("limb sparing surgery " * 500_000)[:10_000_000]
    page.evaluate("(text) => navigator.clipboard.writeText(text)", pasted)
    page.evaluate(_TIMERS, CUT_NOTICE)
    box.focus()
    page.keyboard.press("Control+V")
    cut = " ".join(pasted.split())[:QUESTION_CHARS]  # white space folded as the searcher folds it, then cut
    expect(box).to_have_value(cut)  # cut in the browser, before Streamlit copies it anywhere
    box.press("Enter")
    wait_for_run(page, page.get_by_text(CUT_NOTICE))
    expect(page.get_by_test_id("stCaptionContainer").filter(has_text="“limb sparing surgery").first).to_be_visible()
    page.wait_for_url(lambda url: "q=" in url)
    (question,) = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["q"]
    assert question == cut and len(page.url) < 2 * QUESTION_CHARS  # the address holds the cut question only
    t = page.evaluate("window.__t")
    assert {"paste", "pasted", "enter", "notice"} <= set(t), t
    # Measured, not asserted (a busy machine may be slower): the figures are in docs/page.md.
    print(
        f"\n10 MB paste: box cut in {t['pasted'] - t['paste']:.0f} ms; Enter to the notice "
        f"{t['notice'] - t['enter']:.0f} ms; paste to notice {t['notice'] - t['paste']:.0f} ms "
        "(Playwright's Enter included)"
    )
    assert_inert(desktop, server, SEARCH_LINKS)


def test_a_long_question_in_a_link_is_cut_and_the_address_corrected(desktop, server):
    from playwright.sync_api import expect

    from passage_search.app.page import CUT_NOTICE, QUESTION_CHARS

    page = desktop.page
    linked = "limb sparing surgery " * 2_500  # 52,500 characters in the address
    page.goto(server + "?" + urllib.parse.urlencode({"q": linked}), wait_until="commit")
    wait_for_run(page, page.get_by_text(CUT_NOTICE), timeout=LOAD_MS)
    expect(page.get_by_label("Your question")).to_have_value(linked[:QUESTION_CHARS])
    page.wait_for_url(lambda url: len(url) < 2 * QUESTION_CHARS)  # Streamlit corrects the address to the box


# ---- the evaluate page ----------------------------------------------------------------------------------------


def test_the_evaluate_page_has_no_path_box_and_offers_only_allowed_sets(desktop, eval_server, hostile):
    from playwright.sync_api import expect

    page = desktop.page
    choice = open_evaluate(page, eval_server)
    assert page.get_by_role("textbox").count() == 0, "a visitor must never type a path"
    choice.click()
    options = page.get_by_role("option")
    expect(options).to_have_count(2)
    assert options.all_inner_texts() == [SEED_SET, "hostile_beir"]  # /etc and the missing folder: not offered
    page.keyboard.type("/etc")  # the box filters the listed sets; a path is not one of them
    expect(page.get_by_role("option")).to_have_text(["No results"])
    page.keyboard.press("Escape")
    assert_inert(desktop, eval_server, EVALUATE_LINKS)


def test_the_evaluate_page_scores_an_allowed_hostile_set_and_shows_it_as_text(desktop, eval_server, hostile):
    page = desktop.page
    choice = open_evaluate(page, eval_server)
    choice.click()
    page.get_by_role("option", name="hostile_beir").click()
    page.get_by_role("button", name="Run").click()
    wait_for_run(page, page.get_by_text("Questions, worst first"), timeout=LOAD_MS)
    text = visible_text(page)
    assert EVAL_DOC in text and EVAL_TEXT in text and EVAL_QUESTION in text
    assert "hostile-beir/ in the evaluation output folder" in text  # a name, not a server path
    assert str(hostile.beir) not in text and str(hostile.eval_out) not in text
    assert (hostile.eval_out / "hostile-beir" / "report.json").is_file()  # the operator's folder, by set name
    assert_inert(desktop, eval_server, EVALUATE_LINKS, chart=True)
