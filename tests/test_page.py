"""The Streamlit page, run headless with AppTest: what a visitor reads on it."""

from __future__ import annotations

import re

import pytest
from conftest import SEARCH_APP
from streamlit.testing.v1 import AppTest

SURGERY = "Treatments for soft tissue sarcoma › Surgery for soft tissue sarcoma"
HOSTILE = "<script>alert(1)</script> [x](javascript:alert(1)) $x^2$"


def unescape(markdown: str) -> str:
    """What a reader sees of escaped Markdown: backslash escapes and hard breaks removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("  \n", "\n")


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


def open_page(monkeypatch, index) -> AppTest:
    monkeypatch.setenv("PASSAGE_SEARCH_INDEX", str(index))
    at = AppTest.from_file(str(SEARCH_APP), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.text_input(key="q").input(question).run()
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
    assert any(
        c.startswith("Source: Canadian Cancer Society — soft-tissue-sarcoma-treatments.txt") for c in captions
    )


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
        assert "<script>" not in value, value
        assert "](" not in value, value
        assert "$x^2$" not in value, value


@pytest.mark.model
def test_whitespace_question_shows_the_hint_not_results(monkeypatch, real_index):
    at = ask(open_page(monkeypatch, real_index), "   ")
    assert not at.error
    assert not [m for m in at.markdown if re.match(r"\*\*\d+\.\*\* ", m.value)]
    assert any("Type a question" in c.value for c in at.caption)


@pytest.mark.model
def test_a_very_long_question_shows_results_and_a_notice(monkeypatch, real_index):
    at = ask(open_page(monkeypatch, real_index), "limb-sparing surgery " * 600)
    assert not at.error
    assert [m for m in at.markdown if re.match(r"\*\*1\.\*\* ", m.value)], "no result card"
    assert any("Only the first 1,000 characters" in i.value for i in at.info)


@pytest.mark.model
def test_a_rebuilt_index_is_picked_up_without_a_restart(monkeypatch, tmp_path, real_embedder):
    import shutil

    from conftest import CORPUS

    from passage_search.build import build_index

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
