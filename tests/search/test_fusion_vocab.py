"""Fusion of ranked lists and the patient vocabulary: pure functions, checked by hand-worked examples."""

from __future__ import annotations

import pytest

from passage_search.analysis import analyze, load_vocabulary, words
from passage_search.search.fusion import convex, dbsf, distribution_normalized, normalized, rrf
from passage_search.search.spelling import SpellingCorrector


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


def test_dbsf_matches_a_hand_worked_example():
    # Scores 0.9, 0.6, 0.3: mean 0.6, sd sqrt(0.06) = 0.2449; mean - 3 sd = -0.1348, 6 sd = 1.4697.
    dense = [(1, 0.9), (2, 0.6), (3, 0.3)]
    got = distribution_normalized(dense)
    assert got[1] == pytest.approx((0.9 + 0.1348469) / 1.4696938)
    assert got[2] == pytest.approx(0.5)
    assert got[3] == pytest.approx((0.3 + 0.1348469) / 1.4696938)
    # Lexical has one clear winner (row 3): mean 4, sd sqrt(18), so row 3 -> 0.7357 and rows 1, 2 -> 0.3822.
    # Fused: row 1 1.0865, row 3 1.0316, row 2 0.8822.
    lexical = [(3, 10.0), (2, 1.0), (1, 1.0)]
    fused = dbsf({"dense": dense, "lexical": lexical}, weights={"dense": 1.0, "lexical": 1.0})
    assert [row for row, _ in fused] == [1, 3, 2]
    assert dict(fused)[3] == pytest.approx(1.0316, abs=1e-4)
    # At half weight the clear winner no longer overtakes row 2.
    half = dbsf({"dense": dense, "lexical": lexical}, weights={"dense": 1.0, "lexical": 0.5})
    assert [row for row, _ in half] == [1, 2, 3]


def test_dbsf_gives_a_flat_retriever_equal_scores():
    assert distribution_normalized([(4, 0.5), (7, 0.5)]) == {4: 1.0, 7: 1.0}
    assert distribution_normalized([]) == {}


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


@pytest.mark.parametrize("question", ["if it comes back", "what happens when it's coming back", "it came back"])
def test_a_lay_phrase_is_understood_in_any_of_its_word_forms(question):
    vocabulary = load_vocabulary()
    assert "recurrent" in vocabulary.expansions(vocabulary.fold(words(question)))


def test_a_single_lay_word_is_not_widened_to_its_stem():
    vocabulary = load_vocabulary()
    assert vocabulary.expansions(words("returning to work")) == []  # "returned" means recurrent, "return" not
    assert "malignant" not in vocabulary.expansions(words("cancer"))  # "cancerous" is a lay word, "cancer" not


def test_misspellings_are_repaired_to_corpus_words_but_common_words_are_left_alone():
    corrector = SpellingCorrector({"chemotherapy": 5, "leukemia": 3, "health": 4, "prostate": 2})
    assert corrector.correct("chemoterapy") == "chemotherapy"
    assert corrector.correct("leukimia") == "leukemia"
    assert corrector.correct("prostrate") == "prostate"
    assert corrector.correct("healthy") == "healthy"  # a common English word, not a typo of "health"
    assert corrector.correct("xqzv") == "xqzv"
