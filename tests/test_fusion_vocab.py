"""Fusion of ranked lists and the patient vocabulary: pure functions, checked by hand-worked examples."""

from __future__ import annotations

import pytest

from passage_search.fusion import convex, normalized, rrf
from passage_search.lexical import analyze
from passage_search.vocab import SpellingCorrector, load_vocabulary, words


def test_rrf_matches_a_hand_worked_example():
    rankings = {"dense": [(7, 0.9), (3, 0.8)], "lexical": [(3, 12.0), (5, 4.0)]}
    fused = dict(rrf(rankings, k=10, weights={"dense": 1.0, "lexical": 0.5}))
    assert fused[7] == pytest.approx(1 / 11)
    assert fused[3] == pytest.approx(1 / 12 + 0.5 / 11)
    assert fused[5] == pytest.approx(0.5 / 12)
    assert [row for row, _ in rrf(rankings, k=10, weights={"dense": 1.0, "lexical": 0.5})] == [3, 7, 5]


def test_fusion_is_deterministic_and_breaks_ties_by_row():
    rankings = {"a": [(4, 1.0), (2, 0.5)], "b": [(2, 1.0), (4, 0.5)]}
    first = rrf(rankings)
    assert first == rrf(dict(reversed(list(rankings.items()))))
    assert [row for row, _ in first] == [2, 4]  # equal scores: the lower row first
    assert convex(rankings, weights={"a": 1, "b": 1}) == convex(rankings, weights={"a": 1, "b": 1})


def test_convex_normalises_each_retriever_to_0_1():
    assert normalized([(1, 5.0), (2, 3.0), (3, 1.0)]) == {1: 1.0, 2: 0.5, 3: 0.0}
    assert normalized([(1, 2.0)]) == {1: 1.0}
    fused = dict(convex({"d": [(1, 0.9), (2, 0.1)], "l": [(2, 8.0), (3, 2.0)]}, weights={"d": 1.0, "l": 0.5}))
    assert fused == pytest.approx({1: 1.0, 2: 0.5, 3: 0.0})


@pytest.mark.parametrize(
    ("british", "american"),
    [("tumour", "tumor"), ("oesophageal", "esophageal"), ("haematology", "hematology"), ("anaemia", "anemia"),
     ("leukaemia", "leukemia"), ("paediatric", "pediatric"), ("oestrogen", "estrogen")],
)
def test_british_spellings_fold_to_american(british, american):
    assert load_vocabulary().fold([british]) == [american]


def test_folded_words_stem_to_the_same_index_term():
    vocabulary = load_vocabulary()
    assert analyze("Tumours of the oesophagus", vocabulary) == analyze("tumors of the esophagus", vocabulary)


def test_lay_terms_add_clinical_words():
    vocabulary = load_vocabulary()
    expanded = vocabulary.expansions(vocabulary.fold(words("side effects of chemo after my tumour came back")))
    assert "chemotherapy" in expanded
    assert "recurrent" in expanded
    assert "metastatic" in vocabulary.expansions(words("has it spread"))
    assert vocabulary.expansions(words("a question with no lay terms in it at all")) == []


def test_misspellings_are_repaired_to_corpus_words_but_common_words_are_left_alone():
    corrector = SpellingCorrector({"chemotherapy": 5, "leukemia": 3, "health": 4, "prostate": 2})
    assert corrector.correct("chemoterapy") == "chemotherapy"
    assert corrector.correct("leukimia") == "leukemia"
    assert corrector.correct("prostrate") == "prostate"
    assert corrector.correct("healthy") == "healthy"  # a common English word, not a typo of "health"
    assert corrector.correct("xqzv") == "xqzv"
