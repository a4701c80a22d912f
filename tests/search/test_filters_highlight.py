"""What the page builds on: filtered search, per-retriever scores, highlighting, the topic tree."""

from __future__ import annotations

import pytest
from conftest import FakeEmbedder
from hypothesis import given, settings
from hypothesis import strategies as st

from passage_search.analysis import analyze, load_vocabulary
from passage_search.app.markdown import MARK_CLOSE, MARK_OPEN, escape_markdown, highlight_markdown
from passage_search.search.config import MODES
from passage_search.search.highlight import marked_spans, preview
from passage_search.search.searcher import Searcher
from passage_search.search.topics import as_question, example_searches, top_topic, topic_tree

VOCAB = load_vocabulary()


@pytest.fixture
def searcher(fake_index) -> Searcher:
    return Searcher(fake_index, embedder=FakeEmbedder())


@pytest.mark.parametrize("mode", MODES)
def test_a_filtered_search_returns_only_the_allowed_passages(searcher, mode):
    diet = {row for row, p in enumerate(searcher.passages) if p.source == "diet.md"}
    hits = searcher.search("surgery nausea appetite treatment", k=10, mode=mode, within=diet)
    assert hits and {h.passage.source for h in hits} == {"diet.md"}
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


def test_an_empty_filter_finds_nothing_and_no_filter_finds_everything(searcher):
    assert searcher.search("surgery", k=10, within=[]).hits == ()
    everything = searcher.search("surgery", k=50, mode="dense")
    assert len(everything) == len(searcher.passages)


def test_filtered_dense_scores_are_the_unfiltered_ones(searcher):
    # The exact filtered path and the index path must agree on a passage's similarity.
    plain = {h.passage.id: h.similarity for h in searcher.search("radiation rays", k=50, mode="dense")}
    rows = range(0, len(searcher.passages), 2)
    for hit in searcher.search("radiation rays", k=50, mode="dense", within=rows):
        assert hit.similarity == pytest.approx(plain[hit.passage.id], abs=1e-5)


def test_hits_carry_each_retrievers_rank_and_raw_score(searcher):
    hits = searcher.search("limb-sparing surgery", k=3)
    top = hits[0]
    assert set(top.scores) == set(top.ranks) and set(top.ranks) <= {"dense", "heading", "lexical"}
    assert top.similarity is None or -1.0001 <= top.similarity <= 1.0001
    assert top.to_json()["scores"].keys() == top.scores.keys()


def test_question_words_are_marked_by_stem_and_spelling_and_the_rest_is_escaped():
    terms = analyze("tumour treatments", VOCAB)
    text = "Treatment of the tumor [link](javascript:alert(1)) costs $5 <b>now</b>."
    md = highlight_markdown(text, terms, VOCAB)
    assert f"{MARK_OPEN}Treatment{MARK_CLOSE}" in md and f"{MARK_OPEN}tumor{MARK_CLOSE}" in md
    assert "[link]" not in md and "<b>" not in md and " $5" not in md
    assert md.count(MARK_OPEN) == 2


def test_lay_expansions_mark_the_clinical_word(searcher):
    forms = searcher.analyze("chemo side effects")
    spans = marked_spans("Chemotherapy can cause side effects.", forms.terms, VOCAB)
    assert (0, len("Chemotherapy")) in spans


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.lists(st.sampled_from(["cancer", "surgeri", "x", "tumor"]), max_size=3))
def test_highlighting_only_adds_marks_around_words(text, terms):
    md = highlight_markdown(text, terms, VOCAB)
    # Removing our marks gives back exactly the escaped text: nothing of the corpus became Markdown.
    assert md.replace(MARK_OPEN, "").replace(MARK_CLOSE, "") == escape_markdown(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000), st.integers(min_value=20, max_value=800))
def test_preview_and_rest_make_the_whole_text(text, limit):
    shown, rest = preview(text, limit)
    assert shown + rest == text
    assert rest == "" or len(shown) <= limit


def test_topic_tree_nests_every_passage_once_under_its_headings(searcher):
    tree = topic_tree(searcher.passages)
    assert [t.title for t in tree] == sorted({p.heading_path[0] for p in searcher.passages}, key=[
        p.heading_path[0] for p in searcher.passages].index)
    rows = sorted(r for t in tree for r in t.all_rows())
    assert rows == list(range(len(searcher.passages)))
    for topic in tree:
        for row in topic.all_rows():
            assert searcher.passages[row].heading_path[: len(topic.path)] == topic.path


def test_examples_come_from_the_corpus_headings_and_never_the_disclaimer(searcher):
    examples = example_searches(searcher.passages)
    tops = {top_topic(p) for p in searcher.passages}  # no subject repeated in the tiny corpus: labels are headings
    assert examples and set(examples) <= tops
    assert not any("disclaimer" in e.lower() for e in examples)


@pytest.mark.parametrize(
    ("heading", "question"),
    [
        ("Surgery", "What should I know about surgery?"),
        ("HIV and cancer", "What should I know about HIV and cancer?"),
        ("What is sarcoma?", "What is sarcoma?"),
        ("Follow-up care:", "What should I know about follow-up care?"),
    ],
)
def test_headings_become_questions(heading, question):
    assert as_question(heading) == question
