"""What the page builds on: filtered search, per-retriever scores, highlighting, the topic tree."""

from __future__ import annotations

import pytest
from conftest import FakeEmbedder, strip_own_markup, write_tree
from hypothesis import given, settings
from hypothesis import strategies as st

from passage_search.analysis import analyze, load_vocabulary
from passage_search.app.markdown import BOLD, MARK_CLOSE, MARK_OPEN, escape_markdown, highlight_markdown
from passage_search.search.config import MODES
from passage_search.search.highlight import COMMON_SHARE, common_terms, mark_boxes, marked_spans, preview
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
    assert f"{MARK_OPEN}{BOLD}Treatment{BOLD}{MARK_CLOSE}" in md and f"{MARK_OPEN}{BOLD}tumor{BOLD}{MARK_CLOSE}" in md
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
    assert strip_own_markup(md) == escape_markdown(text)


# ---- marks are phrases, boxed with their punctuation, and never on words most passages share ------------------


def test_neighbouring_marked_words_are_one_mark():
    terms = analyze("soft tissue sarcoma limb sparing surgery", VOCAB)
    text = "Soft tissue sarcoma is treated with limb-sparing surgery, then soft  tissue checks."
    spans = [text[a:b] for a, b in marked_spans(text, terms, VOCAB)]
    assert spans == ["Soft tissue sarcoma", "limb-sparing surgery", "soft  tissue"]
    md = highlight_markdown(text, terms, VOCAB)
    assert md.count(MARK_OPEN) == 3
    assert f"{MARK_OPEN}{BOLD}Soft tissue sarcoma{BOLD}{MARK_CLOSE}" in md
    # The comma sits inside the box, after the bold: no padding between a word and its punctuation.
    assert f"{MARK_OPEN}{BOLD}limb\\-sparing surgery{BOLD},{MARK_CLOSE}" in md


def test_a_line_break_or_punctuation_between_marked_words_ends_the_mark():
    terms = analyze("surgery radiation", VOCAB)
    text = "Surgery\nradiation; and surgery, radiation"
    assert [text[a:b] for a, b in marked_spans(text, terms, VOCAB)] == ["Surgery", "radiation", "surgery", "radiation"]
    # Boxes: a line break is never inside one; boxes with only spaces between them are one box.
    boxes = [text[a:b] for a, b in mark_boxes(text, marked_spans(text, terms, VOCAB))]
    assert boxes == ["Surgery", "radiation;", "surgery, radiation"]


def test_brackets_and_quotes_around_a_word_go_in_its_box():
    terms = analyze("chemotherapy", VOCAB)
    md = highlight_markdown("It is called (chemotherapy). Then “Chemotherapy” helps.", terms, VOCAB)
    assert f"{MARK_OPEN}\\({BOLD}chemotherapy{BOLD}\\)\\.{MARK_CLOSE}" in md
    assert f"{MARK_OPEN}“{BOLD}Chemotherapy{BOLD}”{MARK_CLOSE}" in md


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab cancer surgery-,.()\n\t[]*", max_size=120))
def test_every_box_sits_between_white_space_and_holds_its_marks(text):
    spans = marked_spans(text, ["cancer", "surgeri"], VOCAB)
    boxes = mark_boxes(text, spans)
    for start, end in boxes:
        assert start == 0 or text[start - 1].isspace()
        assert end == len(text) or text[end].isspace()
        assert "\n" not in text[start:end]
    assert all(any(a <= s and e <= b for a, b in boxes) for s, e in spans)
    for start, end in spans:  # a mark starts and ends on a letter or digit
        assert text[start].isalnum() and text[end - 1].isalnum()


def beir_line(doc_id: str, title: str, text: str) -> str:
    import json

    return json.dumps({"_id": doc_id, "title": title, "text": text})


@pytest.fixture
def shared_words_index(tmp_path):
    """Six documents: "sarcoma" in all six, "surgery" in four (most), "radiation" in three (half), "nausea" in one."""
    from passage_search.index.build import build_index

    texts = [
        "Sarcoma surgery keeps the leg.",
        "Sarcoma surgery and radiation.",
        "Sarcoma surgery with radiation afterwards.",
        "Sarcoma surgery recovery.",
        "Sarcoma radiation planning.",
        "Sarcoma nausea and diet.",
    ]
    titles = ["Leg", "Arm", "Back", "Chest", "Head", "Food"]
    lines = [beir_line(f"d{i}", title, t) for i, (title, t) in enumerate(zip(titles, texts, strict=True))]
    corpus = write_tree(tmp_path / "corpus", {"corpus.jsonl": "\n".join(lines) + "\n"})
    build_index(corpus, tmp_path / "index", embedder=FakeEmbedder())
    return tmp_path / "index"


def test_terms_in_most_passages_are_found_from_the_index(shared_words_index):
    searcher = Searcher(shared_words_index, embedder=FakeEmbedder())
    assert COMMON_SHARE == 0.5
    assert {"sarcoma", "surgeri"} <= searcher.common_terms
    assert not {"radiat", "nausea"} & searcher.common_terms  # half of the passages is not most of them
    assert common_terms(searcher.index.lexical, share=0.9) == {"sarcoma"}


def test_words_in_most_passages_are_searched_but_not_marked(shared_words_index):
    searcher = Searcher(shared_words_index, embedder=FakeEmbedder())
    result = searcher.search("sarcoma surgery radiation", k=6)
    assert result.hits and "sarcoma" not in result.terms and "surgeri" not in result.terms
    assert "radiat" in result.terms
    # They still rank: BM25 uses every term of the question.
    assert "surgeri" in searcher.analyze("sarcoma surgery radiation").terms
    md = highlight_markdown("Sarcoma surgery and radiation.", result.terms, searcher.vocabulary)
    assert md == f"Sarcoma surgery and {MARK_OPEN}{BOLD}radiation{BOLD}\\.{MARK_CLOSE}"


def test_an_index_of_one_passage_marks_every_word_of_the_question(tmp_path):
    from passage_search.index.build import build_index

    corpus = write_tree(tmp_path / "corpus", {"corpus.jsonl": beir_line("d0", "Only", "Sarcoma surgery.") + "\n"})
    build_index(corpus, tmp_path / "index", embedder=FakeEmbedder())
    searcher = Searcher(tmp_path / "index", embedder=FakeEmbedder())
    assert searcher.common_terms == frozenset()
    assert set(searcher.search("sarcoma surgery", k=1).terms) == {"sarcoma", "surgeri"}


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
