"""The Streamlit page, run headless with AppTest: what a visitor reads on it."""

from __future__ import annotations

import re

import pytest
from conftest import DAMAGE, SEARCH_APP, live_markup, strip_own_markup
from streamlit.testing.v1 import AppTest

from passage_search.app.markdown import WORD_JOINER

SURGERY = "Treatments for soft tissue sarcoma › Surgery for soft tissue sarcoma"
HOSTILE = (
    "<script>alert(1)</script> [x](javascript:alert(1)) $x^2$ <img src=x onerror=alert(1)> "
    "![x](http://example.com/x.png)"
)


def unescape(markdown: str) -> str:
    """What a reader sees of escaped Markdown: the page's marks, backslash escapes, hard breaks and the invisible
    word joiners that keep addresses and ":name:" codes plain text removed."""
    text = re.sub(r"\\(.)", r"\1", strip_own_markup(markdown)).replace("  \n", "\n")
    return text.replace(WORD_JOINER, "")


def text_elements(at: AppTest) -> list[str]:
    """The source of every element that renders Markdown on the page."""
    kinds = [
        at.title,
        at.header,
        at.subheader,
        at.markdown,
        at.caption,
        at.info,
        at.warning,
        at.error,
        at.success,
    ]
    return [str(el.value) for kind in kinds for el in kind]


def starting_page(at: AppTest) -> bool:
    """Whether the page shows what it shows before a question: example questions and the topic browser."""
    return any(h.value == "Browse topics" for h in at.header)


def open_page(monkeypatch, index) -> AppTest:
    monkeypatch.setenv("PASSAGE_SEARCH_INDEX", str(index))
    at = AppTest.from_file(str(SEARCH_APP), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at: AppTest, question: str, *, sent: bool = False) -> AppTest:
    """Type ``question`` and press Enter. ``sent``: send it as a hand-made request would, past the box's limit."""
    box = at.text_input(key="q")
    (box.set_value(question) if sent else box.input(question)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_missing_index_shows_how_to_build_it(monkeypatch, tmp_path):
    at = open_page(monkeypatch, tmp_path / "no-index")
    assert len(at.error) == 1
    assert "python build_index.py" in unescape(at.error[0].value)
    assert not at.text_input  # nothing to search yet


@pytest.mark.model
def test_question_shows_result_cards_with_breadcrumbs(monkeypatch, real_index):
    at = ask(open_page(monkeypatch, real_index), "limb-sparing surgery")
    cards = [unescape(m.value) for m in at.markdown if re.match(r"\*\*\d+\.\*\* ", m.value)]
    assert len(cards) == 5  # the default number of results
    assert cards[0] == f"**1.** {SURGERY}"
    body = [unescape(m.value) for m in at.markdown]
    assert any("limb-sparing surgery" in text for text in body)
    captions = [unescape(c.value) for c in at.caption]
    # The document as a reader names it, not the file it was read from.
    assert "Source: Canadian Cancer Society — Treatments for soft tissue sarcoma" in captions


@pytest.mark.model
def test_result_count_follows_the_selectbox(monkeypatch, real_index):
    at = open_page(monkeypatch, real_index)
    at.selectbox(key="k").select(3).run()
    ask(at, "chemotherapy drugs")
    assert len([m for m in at.markdown if re.match(r"\*\*\d+\.\*\* ", m.value)]) == 3


@pytest.mark.model
def test_disclaimer_and_support_line_are_on_the_page(monkeypatch, real_index):
    at = open_page(monkeypatch, real_index)
    shown = "\n".join(unescape(t) for t in text_elements(at))
    assert "does not replace your relationship with your doctor" in shown
    assert "1-888-939-3333" in shown
    assert "© 2024 Canadian Cancer Society" in shown
    assert at.title[0].value == "Treatments for soft tissue sarcoma"
    assert not at.warning  # the index is up to date with corpus/


@pytest.mark.model
def test_hostile_question_is_echoed_escaped(monkeypatch, real_index):
    at = ask(open_page(monkeypatch, real_index), HOSTILE)
    values = text_elements(at)
    assert any(HOSTILE in unescape(v) for v in values), "the question is not echoed on the page"
    for value in values:
        assert live_markup(value) == [], value  # every < > [ ] $ of the question is escaped
        assert "](" not in strip_own_markup(value), value  # the page's own links (a number to call) aside


@pytest.mark.model
def test_whitespace_question_shows_the_starting_page_not_results(monkeypatch, real_index):
    at = ask(open_page(monkeypatch, real_index), "   ")
    assert not at.error
    assert not [m for m in at.markdown if re.match(r"\*\*\d+\.\*\* ", m.value)]
    assert starting_page(at)


@pytest.mark.model
def test_a_very_long_question_shows_results_and_a_notice(monkeypatch, real_index):
    at = ask(open_page(monkeypatch, real_index), "limb-sparing surgery " * 600, sent=True)
    assert not at.error
    assert [m for m in at.markdown if re.match(r"\*\*1\.\*\* ", m.value)], "no result card"
    assert any("Only the first 1,000 characters" in i.value for i in at.info)


@pytest.mark.model
def test_a_rebuilt_index_is_picked_up_without_a_restart(monkeypatch, tmp_path, real_embedder):
    import shutil

    from conftest import CORPUS

    from passage_search.index.build import build_index

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    out = tmp_path / "index"
    build_index(corpus, out, embedder=real_embedder)
    at = ask(open_page(monkeypatch, out), "acupuncture for sarcoma pain")
    assert not any("Acupuncture" in m.value for m in at.markdown)
    (corpus / "extra.md").write_text(
        "# Complementary care\n\n## Acupuncture\n\n"
        "Acupuncture may ease pain and nausea for some people with sarcoma.\n",
        "utf-8",
    )
    build_index(corpus, out, embedder=real_embedder)
    at.run()  # the next question (or rerun) on the same page, same server process
    assert not at.exception
    assert any("Acupuncture" in m.value for m in at.markdown if re.match(r"\*\*1\.\*\* ", m.value))
    assert not at.warning, "the page calls the rebuilt index stale"


# ---- the page on small indexes built with the fake embedder: no model needed --------------------------------

PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    "![x](http://example.com/x.png)",
    "[c](javascript:alert(1))",
    "<script>alert(1)</script>",
    "$x^2$",
)
PAYLOAD = " ".join(PAYLOADS)
CARD = re.compile(r"\*\*\d+\.\*\* ")


@pytest.fixture
def fake_page_model(monkeypatch):
    """The page makes its model the way the CLI does (searcher.make_embedder); it gets the fake one."""
    from conftest import FakeEmbedder

    monkeypatch.setattr("passage_search.search.model.make_embedder", lambda model=None, **_kwargs: FakeEmbedder())


def cards(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if CARD.match(m.value)]


def test_live_markup_finds_what_escaping_removes():
    from passage_search.app.markdown import escape_markdown

    assert live_markup(PAYLOAD)
    assert live_markup("\\\\$x$")  # an escaped backslash does not escape the "$" after it
    assert live_markup(escape_markdown(PAYLOAD)) == []


def test_hostile_corpus_text_is_shown_literally(monkeypatch, tmp_path, fake_page_model):
    import json

    from conftest import FakeEmbedder, write_tree

    from passage_search.index.build import build_index

    corpus = write_tree(
        tmp_path / "corpus",
        {
            "care.md": f"""
                ## Pain {PAYLOAD}

                Pain relief with morphine {PAYLOAD} helps most people.

                ## Medical disclaimer

                This does not replace your doctor {PAYLOAD}

                1-800-555-0100 | © 2024 Society {PAYLOAD}
                """,
            "care.meta.json": json.dumps({"title": f"Care {PAYLOAD}", "publisher": f"Publisher {PAYLOAD}"}),
        },
    )
    build_index(corpus, tmp_path / "index", embedder=FakeEmbedder())
    at = ask(open_page(monkeypatch, tmp_path / "index"), "pain relief with morphine")

    shown = cards(at)
    assert shown, "no result card"
    values = text_elements(at)
    for value in values:
        assert live_markup(value) == [], value
    assert unescape(at.title[0].value) == f"Care {PAYLOAD}"
    assert f"Care {PAYLOAD} › Pain {PAYLOAD}" in [CARD.sub("", unescape(c)) for c in shown]
    readable = [unescape(v) for v in values]
    assert f"Pain relief with morphine {PAYLOAD} helps most people." in readable
    assert f"Source: Publisher {PAYLOAD} — Care {PAYLOAD}" in [unescape(c.value) for c in at.caption]
    # The whole disclaimer is in the footer (the banner at the top is one line of the page's own words).
    assert any(v.startswith(f"This does not replace your doctor {PAYLOAD}") for v in readable), readable
    assert f"© 2024 Society {PAYLOAD}" in [unescape(c.value) for c in at.caption]


# What the index was built with; the page's model is FakeEmbedder() (fake-hash-64, 64-d).
OTHER_MODELS = {
    "other-model": {"dimension": 32, "name": "other", "fingerprint": "other-model-32"},
    "other-dimension": {"dimension": 32, "fingerprint": "fake-hash-64"},
}


@pytest.mark.parametrize("problem", [*DAMAGE, *OTHER_MODELS])
def test_a_broken_index_shows_one_error_with_the_rebuild_hint(
    monkeypatch, tmp_path, tiny_corpus, fake_page_model, problem
):
    from conftest import FakeEmbedder

    from passage_search.index.build import build_index
    from passage_search.index.manifest import BUILD_HINT

    # The message names the index folder, so the folder's name must reach the page as written.
    index = tmp_path / "index $x^2$ [c](javascript:alert(1))"
    build_index(tiny_corpus, index, embedder=FakeEmbedder(**OTHER_MODELS.get(problem, {})))
    if problem in DAMAGE:
        DAMAGE[problem](index)
    at = open_page(monkeypatch, index)
    assert not at.exception
    assert len(at.error) == 1, [e.value for e in at.error]
    error = at.error[0].value
    assert BUILD_HINT in unescape(error)
    assert index.name in unescape(error)
    assert live_markup(error) == [], error
    assert not at.text_input  # nothing to search


def test_a_stale_index_warns_and_still_answers(monkeypatch, tmp_path, fake_index, tiny_corpus, fake_page_model):
    (tiny_corpus / "diet.md").write_text("# Eating well\n\nChanged advice about meals.\n", "utf-8")
    at = open_page(monkeypatch, fake_index)
    assert len(at.warning) == 1
    warning = unescape(at.warning[0].value)
    assert warning.startswith("The index may be out of date (the corpus ")
    assert "changed since the index was built" in warning and "python build_index.py" in warning
    ask(at, "limb sparing surgery")
    assert cards(at), "a stale index must still answer"
    assert not at.error


def test_an_up_to_date_index_shows_no_warning(monkeypatch, fake_index, fake_page_model):
    at = ask(open_page(monkeypatch, fake_index), "limb sparing surgery")
    assert not at.warning
    assert unescape(cards(at)[0]) == "**1.** Living with sarcoma › Surgery"


ODD_QUESTIONS = [
    "\x00",
    "\x00\x07\x1b",
    "surgery\x00\x1b[31m",
    "\x1b[31m",
    "🤒💊 chemo?",
    "ما هو العلاج الكيميائي",
    "מה זה טיפול כימותרפי",
    "化疗副作用",
    "the of and to",
    "?!.,;:",
]


@pytest.mark.parametrize("question", ODD_QUESTIONS, ids=range(len(ODD_QUESTIONS)))
def test_odd_questions_show_results_or_the_hint_never_an_error(monkeypatch, fake_index, fake_page_model, question):
    at = ask(open_page(monkeypatch, fake_index), question)
    assert not at.error, [e.value for e in at.error]
    assert bool(cards(at)) != starting_page(at), "expected result cards or the starting page, exactly one of them"
    for value in text_elements(at):
        assert "\x00" not in value and "\x1b" not in value, repr(value)


@pytest.mark.parametrize("question", [HOSTILE, *PAYLOADS])
def test_hostile_question_is_echoed_escaped_with_the_fake_model(monkeypatch, fake_index, fake_page_model, question):
    at = ask(open_page(monkeypatch, fake_index), question)
    values = text_elements(at)
    assert any(question in unescape(v) for v in values), "the question is not echoed on the page"
    for value in values:
        assert live_markup(value) == [], value


# ---- the finished page: examples, topics, filters, URL, copy, feedback, details (fake model) -------------


def test_the_starting_page_offers_example_questions_and_the_topic_tree(monkeypatch, fake_index, fake_page_model):
    from passage_search.index.store import load_index
    from passage_search.search.topics import example_searches

    at = open_page(monkeypatch, fake_index)
    assert starting_page(at)
    passages = load_index(fake_index).passages
    assert list(at.pills(key="example").options) == example_searches(passages)
    labels = [unescape(b.label).strip() for b in at.button if (b.key or "").startswith("topic-")]
    assert "Surgery" in labels and "Eating well during treatment" in labels


def test_an_example_chip_asks_its_question(monkeypatch, fake_index, fake_page_model):
    at = open_page(monkeypatch, fake_index)
    chip = at.pills(key="example")
    example = chip.options[0]
    chip.set_value(example).run()
    assert not at.exception
    assert at.text_input(key="q").value == example
    assert cards(at) and not starting_page(at)


def test_a_topic_shows_every_passage_under_it_verbatim(monkeypatch, fake_index, fake_page_model):
    at = open_page(monkeypatch, fake_index)
    surgery = next(b for b in at.button if unescape(b.label).strip() == "Surgery")
    surgery.click().run()
    assert [h.value for h in at.header] == ["Browse topics", "Surgery"]
    texts = [unescape(m.value) for m in at.markdown]
    assert any(t.startswith("Surgery removes the tumour with a margin of healthy tissue.") for t in texts)
    assert [unescape(c) for c in cards(at)] == ["**1.** Living with sarcoma › Surgery"]
    back = next(b for b in at.button if b.label == "All topics")
    back.click().run()
    assert starting_page(at) and not cards(at)


def test_the_question_is_read_from_the_url(monkeypatch, fake_index, fake_page_model):
    monkeypatch.setenv("PASSAGE_SEARCH_INDEX", str(fake_index))
    at = AppTest.from_file(str(SEARCH_APP), default_timeout=120)
    at.query_params["q"] = "limb-sparing surgery"
    at.run()
    assert not at.exception
    assert at.text_input(key="q").value == "limb-sparing surgery"
    assert cards(at)


def test_the_document_filter_keeps_only_that_documents_passages(monkeypatch, fake_index, fake_page_model):
    at = open_page(monkeypatch, fake_index)
    at.multiselect(key="documents").select("Eating well during treatment").run()
    ask(at, "surgery and treatment")
    sources = [unescape(c.value) for c in at.caption if c.value.startswith("Source:")]
    assert sources and all(s == "Source: Eating well during treatment" for s in sources)


def test_the_topic_filter_keeps_only_passages_under_that_heading(monkeypatch, fake_index, fake_page_model):
    at = open_page(monkeypatch, fake_index)
    at.multiselect(key="topics").select("Surgery").run()
    ask(at, "treatment")
    assert [unescape(c) for c in cards(at)] == ["**1.** Living with sarcoma › Surgery"]


def copy_buttons(at: AppTest) -> list[dict]:
    """The data of each card's Copy button (a custom component: AppTest sees its JSON, not its button)."""
    import json

    return [json.loads(el.proto.json) for el in at.get("bidi_component")]


def test_each_card_has_a_copy_button_with_headings_text_and_source_and_details(
    monkeypatch, fake_index, fake_page_model
):
    from passage_search.app.page import copy_text
    from passage_search.search.searcher import Searcher

    at = ask(open_page(monkeypatch, fake_index), "limb-sparing surgery")
    hits = Searcher(fake_index, embedder=__import__("conftest").FakeEmbedder()).search("limb-sparing surgery", k=5)
    copied = copy_buttons(at)
    assert [c["text"] for c in copied] == [copy_text(h.passage) for h in hits]
    assert [c["label"] for c in copied] == [f"Copy passage {n}" for n in range(1, len(hits) + 1)]
    first = copied[0]["text"]
    assert first.startswith(hits[0].passage.breadcrumb) and "Source: " in first
    details = [unescape(c.value) for c in at.caption if "passage id" in c.value]
    assert len(details) == len(hits) and hits[0].passage.id in details[0]
    assert not at.code, "no second, two-click copy box"


def test_matched_words_are_marked_in_the_cards(monkeypatch, fake_index, fake_page_model):
    from passage_search.app.markdown import BOLD, MARK_CLOSE, MARK_OPEN

    at = ask(open_page(monkeypatch, fake_index), "limb-sparing surgery")
    body = [m.value for m in at.markdown if MARK_OPEN in m.value]
    assert any(f"{MARK_OPEN}{BOLD}Surgery{BOLD}{MARK_CLOSE}" in b for b in body)
    assert any(f"{MARK_OPEN}{BOLD}Limb\\-sparing surgery{BOLD}{MARK_CLOSE}" in b for b in body)  # one mark


def test_feedback_is_off_by_default_and_writes_nothing(monkeypatch, fake_index, fake_page_model, tmp_path):
    monkeypatch.delenv("PASSAGE_SEARCH_FEEDBACK", raising=False)
    at = ask(open_page(monkeypatch, fake_index), "limb-sparing surgery")
    assert cards(at) and not at.feedback


def test_feedback_when_turned_on_stores_the_judgment(monkeypatch, fake_index, fake_page_model, tmp_path):
    from passage_search.eval.feedback import FeedbackStore

    db = tmp_path / "fb" / "feedback.sqlite"
    monkeypatch.setenv("PASSAGE_SEARCH_FEEDBACK", str(db))
    at = ask(open_page(monkeypatch, fake_index), "limb-sparing surgery")
    assert len(at.feedback) == len(cards(at))
    at.feedback[0].set_value(1).run()
    assert not at.exception
    (judgment,) = FeedbackStore(db).judgments()
    assert judgment.query == "limb-sparing surgery" and judgment.helpful
    assert judgment.breadcrumb == unescape(cards(at)[0]).removeprefix("**1.** ")


# ---- the three confidence states, as a person sees them -----------------------------------------------------


def force_state(monkeypatch, state: str) -> None:
    """Move the thresholds so that every search with hits reads as ``state`` (the rule is tested apart)."""
    from passage_search.search import confidence

    low, high = -1e9, 1e9
    related, answer = {"answer": (low, low), "related": (low, high), "none": (high, high)}[state]
    monkeypatch.setattr(confidence, "Z_RELATED", related)
    monkeypatch.setattr(confidence, "Z_ANSWER", answer)
    monkeypatch.setattr(confidence, "MIN_COVERAGE", high if state == "none" else low)


def badges(at: AppTest) -> list[str]:
    return [str(el.proto.body) for el in at.markdown if "badge" in str(el.proto.body)]


@pytest.mark.parametrize("state", ["answer", "related", "none"])
def test_each_state_is_labelled_once_and_never_contradicted(monkeypatch, fake_index, fake_page_model, state):
    force_state(monkeypatch, state)
    at = ask(open_page(monkeypatch, fake_index), "limb-sparing surgery")
    notes = [unescape(i.value).replace("**", "") for i in at.info]
    best = [m.value for m in at.markdown if "Best answer" in m.value]
    shown = len(cards(at))
    if state == "answer":
        assert len(best) == 1 and not any("answers that" in n or "Related" in n for n in notes)
    elif state == "related":
        assert not best and any(n.startswith("Related — may not fully answer your question.") for n in notes)
    else:
        assert not best and any(n.startswith("Nothing here answers that.") for n in notes)
        assert any("These pages cover" in n for n in notes), "it says what the pages do cover"
        assert "Closest passages anyway" in [e.label for e in at.expander]
    assert shown == 5, "the passages are always there: shown, or one click away under their label"


# ---- nothing from a question or the corpus becomes markup, a link, an image or an icon (issue 14) ------------

REWRITTEN = (
    "https://evil.example/login www.evil.example help@evil.example :red[x] :smile: :material/star: :streamlit: -> --"
)


def labels(at: AppTest) -> list[str]:
    """Every label on the page that Streamlit renders as Markdown: buttons, example chips, expanders, radios."""
    found = [str(b.label) for b in at.button] + [str(e.label) for e in at.expander]
    found += [str(o) for p in at.get("button_group") for o in p.options]
    found += [str(o) for r in at.radio for o in r.options]
    return found


def hostile_index(tmp_path):
    import json

    from conftest import FakeEmbedder, write_tree

    from passage_search.index.build import build_index

    corpus = write_tree(
        tmp_path / "corpus",
        {
            "care.md": f"""
                ## Pain ![p](http://host/pixel.png)

                Pain relief with morphine {PAYLOAD} {REWRITTEN} helps most people.

                ## R [c](https://evil.example) {REWRITTEN}

                Radiation therapy {REWRITTEN} uses rays.

                ## Medical disclaimer

                This does not replace your doctor {REWRITTEN}

                1-800-555-0100 | © 2024 Society {REWRITTEN}
                """,
            "care.meta.json": json.dumps({"title": f"Care {REWRITTEN}", "publisher": f"Publisher {REWRITTEN}"}),
        },
    )
    build_index(corpus, tmp_path / "index", embedder=FakeEmbedder())
    return tmp_path / "index"


def assert_inert(values: list[str]) -> None:
    from test_security import streamlit_rewrites

    for value in values:
        assert live_markup(value) == [], value
        assert streamlit_rewrites(value) == [], value


def test_hostile_corpus_and_question_stay_text_in_every_element_and_label(monkeypatch, tmp_path, fake_page_model):
    from passage_search.index.store import load_index
    from passage_search.search.topics import example_searches

    index = hostile_index(tmp_path)
    monkeypatch.setenv("PASSAGE_SEARCH_FEEDBACK", str(tmp_path / "feedback.sqlite"))
    at = open_page(monkeypatch, index)
    assert_inert(text_elements(at) + labels(at))
    chips = list(at.pills(key="example").options)
    assert [unescape(c) for c in chips] == example_searches(load_index(index).passages)
    assert "Pain ![p]" in [unescape(c) for c in chips]  # the heading's words, shown as written
    assert f"Care {REWRITTEN}" == unescape(at.title[0].value)

    question = f"Your session expired, log in at https://evil.example/login {PAYLOAD} pain relief"
    ask(at, question)
    assert cards(at), "no result card"
    assert_inert(text_elements(at) + labels(at))
    readable = [unescape(v) for v in text_elements(at)]
    assert any(question in v for v in readable), "the question is not echoed as written"
    assert f"Source: Publisher {REWRITTEN} — Care {REWRITTEN}" in readable
    assert any(f"Pain relief with morphine {PAYLOAD} {REWRITTEN} helps most people." in v for v in readable)


def test_a_hostile_topic_heading_stays_text_when_chosen(monkeypatch, tmp_path, fake_page_model):
    at = open_page(monkeypatch, hostile_index(tmp_path))
    topic = next(b for b in at.button if unescape(b.label).strip().startswith("R [c]"))
    topic.click().run()
    assert not at.exception
    assert unescape(at.header[-1].value) == f"R [c](https://evil.example) {REWRITTEN}"
    assert_inert(text_elements(at) + labels(at))


# ---- a pasted or linked question is bounded before it is searched or put in the address ---------------------


def address_question(at: AppTest) -> str:
    value = at.query_params.get("q", "")
    return value[0] if isinstance(value, list) else value


def test_a_pasted_10_mb_question_is_cut_before_the_search_and_the_address(monkeypatch, fake_index, fake_page_model):
    from passage_search.app.page import CUT_NOTICE, QUESTION_CHARS
    from passage_search.search.query import MAX_QUERY_CHARS

    assert QUESTION_CHARS == MAX_QUERY_CHARS  # the box holds what the searcher reads, no more
    # What a hand-made request can send (a browser cuts a paste itself: test_hostile_browser.py).
    at = ask(open_page(monkeypatch, fake_index), "limb sparing surgery " * 500_000, sent=True)
    assert cards(at), "no result card"
    assert [unescape(i.value) for i in at.info].count(CUT_NOTICE) == 1
    assert len(at.text_input(key="q").value) == QUESTION_CHARS
    assert len(address_question(at)) <= QUESTION_CHARS
    # The notice stays while the box holds the cut question, and goes with a new one.
    at.selectbox(key="k").select(3).run()
    assert [unescape(i.value) for i in at.info].count(CUT_NOTICE) == 1
    ask(at, "limb sparing surgery")
    assert CUT_NOTICE not in [unescape(i.value) for i in at.info]


def test_a_long_question_in_the_address_is_cut_on_the_first_run(monkeypatch, fake_index, fake_page_model):
    from passage_search.app.page import CUT_NOTICE, QUESTION_CHARS

    monkeypatch.setenv("PASSAGE_SEARCH_INDEX", str(fake_index))
    at = AppTest.from_file(str(SEARCH_APP), default_timeout=120)
    at.query_params["q"] = "limb sparing surgery " * 5_000
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert cards(at)
    assert len(at.text_input(key="q").value) == QUESTION_CHARS
    assert CUT_NOTICE in [unescape(i.value) for i in at.info]


def test_a_short_question_has_no_cut_notice(monkeypatch, fake_index, fake_page_model):
    from passage_search.app.page import CUT_NOTICE, QUESTION_CHARS

    at = ask(open_page(monkeypatch, fake_index), ("limb sparing surgery " * 100)[: QUESTION_CHARS - 1])
    assert len(at.text_input(key="q").value) == QUESTION_CHARS - 1
    assert cards(at)
    assert CUT_NOTICE not in [unescape(i.value) for i in at.info]


# ---- feedback: a thumb clicked off takes its judgment back ---------------------------------------------------


def test_a_thumb_clicked_off_removes_its_judgment(monkeypatch, fake_index, fake_page_model, tmp_path):
    from passage_search.eval.feedback import FeedbackStore

    db = tmp_path / "feedback.sqlite"
    monkeypatch.setenv("PASSAGE_SEARCH_FEEDBACK", str(db))
    at = ask(open_page(monkeypatch, fake_index), "limb-sparing surgery")
    at.feedback[0].set_value(1).run()
    assert [j.helpful for j in FeedbackStore(db).judgments()] == [True]
    at.feedback[0].set_value(None).run()
    assert not at.exception and not at.warning
    assert FeedbackStore(db).judgments() == []
    at.feedback[0].set_value(0).run()  # down, then up: one judgment, the last one
    at.feedback[0].set_value(1).run()
    assert [j.helpful for j in FeedbackStore(db).judgments()] == [True]
    at.feedback[0].set_value(None).run()
    assert FeedbackStore(db).judgments() == []


def test_clicking_off_leaves_a_judgment_given_since_by_someone_else(monkeypatch, fake_index, fake_page_model, tmp_path):
    from passage_search.eval.feedback import FeedbackStore
    from passage_search.search.searcher import Searcher

    db = tmp_path / "feedback.sqlite"
    monkeypatch.setenv("PASSAGE_SEARCH_FEEDBACK", str(db))
    at = ask(open_page(monkeypatch, fake_index), "limb-sparing surgery")
    at.feedback[0].set_value(1).run()
    (mine,) = FeedbackStore(db).judgments()
    first = Searcher(fake_index, embedder=__import__("conftest").FakeEmbedder()).search("limb-sparing surgery")[0]
    assert first.passage.id == mine.passage_id
    FeedbackStore(db).record("limb-sparing surgery", first, helpful=False)  # another visitor, same pair
    at.feedback[0].set_value(None).run()
    assert [j.helpful for j in FeedbackStore(db).judgments()] == [False]


def test_withdraw_removes_only_the_matching_judgment(tmp_path):
    from passage_search.eval.feedback import FeedbackStore
    from passage_search.passage import Hit, Passage

    store = FeedbackStore(tmp_path / "fb.sqlite")
    hit = Hit(Passage("p1", "doc.md", "Guide", ("Guide", "Pain"), "Pain text.", "doc.md", 0), 1.0, 1)
    assert store.withdraw("pain", hit, helpful=True) is False  # no file yet: nothing to do, nothing created
    assert not store.path.exists()
    store.record("pain  relief", hit, helpful=True)
    assert store.withdraw("pain relief", hit, helpful=False) is False
    assert store.withdraw(" pain relief ", hit, helpful=True) is True  # the question as searched
    assert store.judgments() == []


# ---- any failure is one sentence, never a traceback ----------------------------------------------------------


def test_an_unexpected_error_while_searching_is_one_sentence(monkeypatch, fake_index, fake_page_model):
    from passage_search.search.searcher import Searcher

    at = open_page(monkeypatch, fake_index)

    def broken(self, *args, **kwargs):
        raise RuntimeError("Error in void faiss::IndexFlat::search(...) at faiss/IndexFlat.cpp:42\nframe 1\nframe 2")

    monkeypatch.setattr(Searcher, "search", broken)
    ask(at, "limb-sparing surgery")
    assert not at.exception
    (error,) = [unescape(e.value) for e in at.error]
    assert error.startswith("Something went wrong (RuntimeError: Error in void faiss::IndexFlat::search")
    assert "frame 1" not in error and "\n" not in error


def test_an_unreadable_index_is_one_sentence(monkeypatch, fake_index, fake_page_model):
    import errno

    def unreadable(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(fake_index / "vectors.faiss"))

    monkeypatch.setattr("passage_search.app.serving.serving_searcher", unreadable)
    at = open_page(monkeypatch, fake_index)
    (error,) = [unescape(e.value) for e in at.error]
    assert error.startswith("Permission denied (") and "vectors.faiss" in error
    assert not at.text_input


# ---- the evaluate page: only the bundled set and the folders the operator allows -----------------------------

EVALUATE = SEARCH_APP.parent / "evaluate_app.py"
SEED_SET = "Bundled seed questions (no setup)"


def test_the_evaluate_page_offers_only_the_seed_set_and_allowed_folders(monkeypatch, tmp_path):
    import os
    import shutil

    from conftest import REPO

    beir = shutil.copytree(REPO / "tests" / "data" / "tiny_beir", tmp_path / "allowed" / "tiny_beir")
    not_beir = tmp_path / "not-beir"
    not_beir.mkdir()
    (not_beir / "corpus.jsonl").write_text("{}\n", "utf-8")
    allowed = [str(beir), str(not_beir), str(tmp_path / "missing"), "/etc"]
    monkeypatch.setenv("PASSAGE_SEARCH_EVAL_DIRS", os.pathsep.join(allowed))
    at = AppTest.from_file(str(EVALUATE), default_timeout=120)
    at.run()
    assert not at.exception
    assert not at.text_input, "a visitor must never type a path"
    (choice,) = at.selectbox
    assert list(choice.options) == [SEED_SET, "tiny_beir"]  # by name: no server path is shown


def test_the_evaluate_page_lists_no_folder_when_the_setting_is_empty(monkeypatch):
    monkeypatch.setenv("PASSAGE_SEARCH_EVAL_DIRS", "")
    at = AppTest.from_file(str(EVALUATE), default_timeout=120)
    at.run()
    assert not at.exception
    assert list(at.selectbox[0].options) == [SEED_SET]


# ---- issue 15: honest states, the banner and footer, copy, the section link, plain details, the address -------


def test_a_phone_number_becomes_a_link_to_call():
    from passage_search.app.page import phone_links, tel_href

    assert tel_href("1-888-939-3333") == "tel:+18889393333"
    assert tel_href("(416) 555-0100") == "tel:+14165550100"
    assert tel_href("+1 800.555.0100") == "tel:+18005550100"
    assert phone_links(["1-888-939-3333"]) == "[1\\-888\\-939\\-3333](tel:+18889393333)"


def test_the_banner_is_one_short_line_and_the_footer_drops_the_raw_notice_line():
    from passage_search.app.page import banner, disclaimer_paragraphs
    from passage_search.ingest.notices import Notices

    notices = Notices(
        titles=("Treatments",),
        disclaimer="This does not replace your doctor.\n\nWe do our best.\n\n1-888-939-3333 | | © 2024 Society",
        phones=("1-888-939-3333",),
        copyright=("© 2024 Society",),
    )
    line = banner(notices)
    assert line == "Not medical advice · Support line [1\\-888\\-939\\-3333](tel:+18889393333)"
    assert len(unescape(line)) <= 48, "it must fit one line of a 375 px screen"
    assert disclaimer_paragraphs(notices) == ["This does not replace your doctor.", "We do our best."]
    # A line with words beside the number is the publisher's text and stays.
    kept = Notices((), "Call 1-888-939-3333 any day.", ("1-888-939-3333",), ())
    assert disclaimer_paragraphs(kept) == ["Call 1-888-939-3333 any day."]
    assert banner(Notices((), "", (), ())) == ""
    assert banner(Notices((), "Not advice.", (), ())) == "Not medical advice"


def test_only_a_web_address_becomes_a_link():
    from passage_search.app.page import safe_url

    assert safe_url(" https://cancer.ca/en/treatment#surgery ") == "https://cancer.ca/en/treatment#surgery"
    assert safe_url("http://example.org/a(b)") == "http://example.org/a(b)"
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "/local/path", "https://", "https://a b", "", "x"):
        assert safe_url(bad) == "", bad


def test_the_copied_text_carries_headings_passage_and_source_link():
    from passage_search.app.page import copy_text
    from passage_search.passage import Passage

    p = Passage("id", "doc", "Sarcoma", ("Sarcoma", "Surgery"), "Surgery removes it.", "s.txt", 0, "Society")
    assert copy_text(p) == "Sarcoma › Surgery\n\nSurgery removes it.\n\nSource: Society — Sarcoma"
    linked = Passage(**{**p.__dict__, "url": "https://example.org/s#surgery"})
    assert copy_text(linked).endswith("\n\nSource: Society — https://example.org/s#surgery")
    hostile = Passage(**{**p.__dict__, "url": "javascript:alert(1)"})
    assert copy_text(hostile) == copy_text(p)  # an address that is not a web page is not offered


def test_details_say_in_plain_words_how_a_passage_was_found():
    from passage_search.app.page import details, ordinal
    from passage_search.passage import Hit, Passage

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th"
    ]
    p = Passage("abc123", "doc", "T", ("T",), "text", "s.txt", 0)
    both = Hit(p, 0.0469, 1, ranks={"lexical": 3, "dense": 1}, scores={"dense": 0.61, "lexical": 7.2})
    assert unescape(details(both)) == (
        "Found by meaning and by words; ranked 1st by meaning, 3rd by words · passage id abc123"
    )
    three = Hit(p, 0.05, 1, ranks={"dense": 2, "heading": 1, "lexical": 5})
    assert unescape(details(three)).startswith(
        "Found by meaning, by headings and by words; ranked 2nd by meaning, 1st by headings, 5th by words"
    )
    assert "0.0469" not in details(both) and "cosine" not in details(both)


def test_nothing_here_names_what_the_pages_cover_and_the_support_line(monkeypatch, fake_index, fake_page_model):
    force_state(monkeypatch, "none")
    at = ask(open_page(monkeypatch, fake_index), "limb-sparing surgery")
    (note,) = [i.value for i in at.info if "answers that" in i.value]
    assert note.startswith("**Nothing here answers that.**")
    assert "These pages cover “Eating well during treatment”, “Living with sarcoma”" in unescape(note)
    assert "(tel:+18005550100)" in note, "the support line is a link to call"
    captions = [unescape(c.value) for c in at.caption]
    assert not [c for c in captions if "passages for" in c or "passage for" in c], "no count above 'nothing'"
    assert any(c.startswith("Searched “limb-sparing surgery”") for c in captions)


def test_a_related_answer_is_shown_labelled_not_hidden(monkeypatch, fake_index, fake_page_model):
    force_state(monkeypatch, "related")
    at = ask(open_page(monkeypatch, fake_index), "limb-sparing surgery")
    assert [unescape(i.value) for i in at.info] == ["**Related — may not fully answer your question.**"]
    assert cards(at) and "Closest passages anyway" not in [e.label for e in at.expander]
    assert unescape(cards(at)[0]) == "**1.** Living with sarcoma › Surgery"


def test_one_result_is_one_passage_not_one_passages(monkeypatch, fake_index, fake_page_model):
    force_state(monkeypatch, "answer")
    at = open_page(monkeypatch, fake_index)
    at.multiselect(key="topics").select("Surgery").run()
    ask(at, "treatment")
    assert len(cards(at)) == 1
    assert any(unescape(c.value).startswith("1 passage for “treatment”") for c in at.caption)


def test_the_footer_has_the_whole_disclaimer_and_the_copyright_once(monkeypatch, fake_index, fake_page_model):
    at = open_page(monkeypatch, fake_index)
    shown = [unescape(v) for v in text_elements(at)]
    assert "This information does not replace the advice of your doctor." in shown
    assert not [v for v in shown if "| |" in v or "|  |" in v], "the publisher's raw notice line"
    assert sum(v.count("© 2024 Example Health Society") for v in shown) == 1
    assert "Support line: 1-800-555-0100" in shown
    assert not at.info, "the banner is one line, not a box quoting the disclaimer"


def section_link_index(tmp_path, url: str):
    """The tiny corpus with a sidecar that gives the page's address (``url``)."""
    import json

    from conftest import TINY_TXT, FakeEmbedder, write_tree

    from passage_search.index.build import build_index

    corpus = write_tree(
        tmp_path / "corpus",
        {
            "sarcoma.txt": TINY_TXT,
            "sarcoma.meta.json": json.dumps({"title": "Living with sarcoma", "publisher": "Example", "url": url}),
        },
    )
    build_index(corpus, tmp_path / "index", embedder=FakeEmbedder())
    return tmp_path / "index"


def test_each_card_links_to_its_section_when_the_corpus_gives_the_address(monkeypatch, tmp_path, fake_page_model):
    url = "https://example.org/living-with-sarcoma"
    at = ask(open_page(monkeypatch, section_link_index(tmp_path, url)), "limb-sparing surgery")
    links = at.get("link_button")
    assert links and len(links) == len(cards(at))
    assert {link.proto.label for link in links} == {"Read the full section"}
    assert all(link.proto.url.startswith(url) for link in links), [link.proto.url for link in links]
    assert all(c["text"].endswith(f"Source: Example — {link.proto.url}") for c, link in zip(copy_buttons(at), links))


def test_no_section_link_without_an_address(monkeypatch, fake_index, fake_page_model):
    at = ask(open_page(monkeypatch, fake_index), "limb-sparing surgery")
    assert cards(at) and not at.get("link_button")


def test_a_shared_address_restores_filters_mode_and_k(monkeypatch, fake_index, fake_page_model):
    # The browser writes them into the address (test_page_product.py); AppTest has no browser, so this checks
    # the other way: an address holding them sets the filters, the mode and k.
    monkeypatch.setenv("PASSAGE_SEARCH_INDEX", str(fake_index))
    at = AppTest.from_file(str(SEARCH_APP), default_timeout=120)
    at.query_params.update({"q": "healthy tissue", "k": "3", "mode": "lexical", "topics": "Surgery"})
    at.run()
    assert not at.exception
    assert at.radio(key="mode").value == "lexical" and at.selectbox(key="k").value == 3
    assert at.multiselect(key="topics").value == ["Surgery"]
    assert [unescape(c) for c in cards(at)] == ["**1.** Living with sarcoma › Surgery"]


def test_the_question_box_is_a_search_box_with_a_clear_button(monkeypatch, fake_index, fake_page_model):
    at = open_page(monkeypatch, fake_index)
    assert at.text_input(key="q").proto.type == at.text_input(key="q").proto.SEARCH  # its × empties it


def test_the_topic_browser_has_chevrons_and_indents_by_depth(monkeypatch, fake_index, fake_page_model):
    at = open_page(monkeypatch, fake_index)
    topics = [b for b in at.button if (b.key or "").startswith("topic-")]
    assert topics and all(b.proto.icon == ":material/chevron_right:" for b in topics)
    depth = {unescape(b.label): b.key.split("-")[1] for b in topics}
    assert depth["Living with sarcoma"] == "d0" and depth["Surgery"] == "d1" and depth["Nausea"] == "d2"
