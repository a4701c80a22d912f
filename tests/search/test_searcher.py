"""The searcher on a small index: what a question returns, and what it refuses."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
from conftest import FakeEmbedder, write_tree

from passage_search.errors import QueryError
from passage_search.index.build import build_index
from passage_search.ingest.notices import is_notice
from passage_search.search.searcher import Searcher


@pytest.fixture
def searcher(fake_index) -> Searcher:
    return Searcher(fake_index, embedder=FakeEmbedder())


@pytest.mark.parametrize("query", ["", "   ", "\n\t  ", "\x00\x07\x1b"])
def test_empty_question_is_refused(searcher, query):
    with pytest.raises(QueryError) as info:
        searcher.search(query)
    assert str(info.value).endswith(".")


def test_k_larger_than_the_index_returns_every_passage_once(searcher):
    hits = searcher.search("sarcoma surgery", k=1000)
    assert len(hits) == len(searcher.passages)
    assert len({h.passage.id for h in hits}) == len(searcher.passages)


BAD_K = {"0": 0, "-1": -1, "str": "3", "float": 2.5, "nan": float("nan"), "bool": True, "None": None}


@pytest.mark.parametrize("k", BAD_K.values(), ids=BAD_K)
def test_k_that_is_not_a_whole_number_of_at_least_one_is_refused_in_one_sentence(searcher, k):
    with pytest.raises(QueryError) as info:
        searcher.search("sarcoma surgery", k=k)
    assert str(info.value) == f"k must be a whole number of at least 1, not {k!r}."


def test_k_may_be_a_numpy_integer(searcher):
    assert len(searcher.search("sarcoma surgery", k=np.int64(2))) == 2


@pytest.mark.parametrize("mode", ["fast", "HYBRID", "", 5])
def test_an_unknown_mode_is_refused_in_one_sentence(searcher, mode):
    with pytest.raises(QueryError) as info:
        searcher.search("sarcoma surgery", mode=mode)
    assert str(info.value) == f"Unknown search mode {mode!r}; choose one of dense, lexical, hybrid."


def test_within_searches_only_those_rows(searcher):
    hits = searcher.search("sarcoma surgery", k=10, within={0, np.int64(2)})
    assert {h.passage.id for h in hits} <= {searcher.passages[0].id, searcher.passages[2].id}
    assert hits.filtered


BAD_ROWS = {"-1": -1, "past the end": 10_000, "str": "1", "float": 0.5, "bool": True, "None": None}


@pytest.mark.parametrize("row", BAD_ROWS.values(), ids=BAD_ROWS)
def test_within_refuses_anything_but_rows_of_the_index(searcher, row):
    last = len(searcher.passages) - 1
    with pytest.raises(QueryError) as info:
        searcher.search("sarcoma surgery", within={0, row})
    assert str(info.value) == f"within must hold passage rows from 0 to {last}, not {row!r}."


@pytest.mark.parametrize("within", [3, "12"])
def test_within_must_be_a_collection(searcher, within):
    with pytest.raises(QueryError, match=r"^within must be a collection of passage rows, not a (int|str)\.$"):
        searcher.search("sarcoma surgery", within=within)


def test_k_limits_the_number_of_hits(searcher):
    assert len(searcher.search("sarcoma surgery", k=2)) == 2


def test_control_characters_are_tolerated(searcher):
    plain = searcher.search("limb sparing surgery", k=3)
    noisy = searcher.search("limb\x00 sparing\x07\r\nsurgery\x1b", k=3)
    assert [h.passage.id for h in noisy] == [h.passage.id for h in plain]


def test_hits_are_ranked_one_to_n_with_descending_scores(searcher):
    hits = searcher.search("radiation therapy before surgery", k=10)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    # Notice sections (the disclaimer) are moved after the content passages; each group keeps score order.
    notices = [is_notice(h.passage) for h in hits]
    assert notices == sorted(notices)
    for group in (False, True):
        scores = [h.score for h, n in zip(hits, notices, strict=True) if n == group]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("index", range(6))
def test_a_passage_is_found_first_by_its_own_words(searcher, index):
    passages = searcher.passages
    target = passages[index % len(passages)]
    hits = searcher.search(f"{target.breadcrumb} {target.text}", k=3)
    assert hits[0].passage == target


def test_long_question_is_searched(searcher):
    hits = searcher.search("surgery " * 5000, k=3)
    assert len(hits) == 3


def test_concurrent_searches_give_the_same_answers(searcher):
    questions = ["limb sparing surgery", "nausea ginger", "radiation rays", "appetite meals", "your doctor"]
    want = {q: [h.passage.id for h in searcher.search(q, k=4)] for q in questions}
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda q: (q, [h.passage.id for h in searcher.search(q, k=4)]), questions * 20))
    assert all(ids == want[q] for q, ids in got)


@pytest.fixture
def disclaimer_searcher(tmp_path, fake_embedder) -> Searcher:
    """A page with one answer and a medical disclaimer that shares its words."""
    corpus = write_tree(
        tmp_path / "corpus",
        {
            "page.txt": "Caring for yourself\n\nRest\n\nSleep helps your body recover after treatment.\n\n"
            "Medical disclaimer\n\nTalk to your doctor about your treatment and your health before deciding.\n"
        },
    )
    build_index(corpus, tmp_path / "index", embedder=fake_embedder)
    searcher = Searcher(tmp_path / "index", embedder=fake_embedder)
    return searcher


def test_a_disclaimer_ranks_after_every_content_passage(disclaimer_searcher):
    searcher = disclaimer_searcher
    question = "talk to your doctor about your treatment"
    for mode in ("dense", "lexical"):
        hits = searcher.search(question, k=5, mode=mode)
        assert hits[0].ranks[mode] == 2, "the disclaimer was this retriever's first choice"
        assert hits[-1].passage.heading_path[-1] == "Medical disclaimer", mode
    # A word the disclaimer shares with the answers: not every retriever puts it first, so it goes last.
    hits = searcher.search("treatment", k=5, mode="hybrid")
    assert [h.passage.heading_path[-1] for h in hits] == ["Rest", "Medical disclaimer"]
    assert hits[-1].ranks["heading"] == 1


def test_a_question_about_the_disclaimer_itself_finds_it_first(disclaimer_searcher):
    searcher = disclaimer_searcher
    question = "talk to your doctor about your treatment"
    hits = searcher.search(question, k=5, mode="hybrid")
    # Every retriever ranks it first, so it is the answer, not boilerplate in the way.
    assert hits[0].ranks == {"dense": 1, "heading": 1, "lexical": 1}
    assert hits[0].passage.heading_path[-1] == "Medical disclaimer"
    plain = replace(searcher.config, demote_notices=False)
    assert searcher.search_batch([question], 5, mode="lexical", config=plain)[0][0].passage.heading_path[-1] == (
        "Medical disclaimer"
    )


def test_stage_timings_are_reported_per_retriever(searcher):
    timings: dict[str, float] = {}
    plain = searcher.search("limb sparing surgery", k=3)
    timed = searcher.search_batch(["limb sparing surgery"], 3, timings=timings)[0]
    assert [h.passage.id for h in timed] == [h.passage.id for h in plain]
    assert set(timings) == {"analyze", "encode", "dense", "heading", "lexical", "fusion"}
    assert all(ms >= 0 for ms in timings.values())
    lexical_only: dict[str, float] = {}
    searcher.search_batch(["limb sparing surgery"], 3, mode="lexical", timings=lexical_only)
    assert set(lexical_only) == {"analyze", "lexical", "fusion"}


def test_the_same_section_in_two_documents_gives_two_distinct_hits(tmp_path):
    leaflet = """
        # Treatments for sarcoma

        ## Surgery

        Limb-sparing surgery removes the tumour and keeps the arm or leg.

        ## Radiation

        Radiation therapy uses high-energy rays to destroy cancer cells.
        """
    corpus = write_tree(tmp_path / "corpus", {"a.md": leaflet, "copy/b.md": leaflet})
    result = build_index(corpus, tmp_path / "index", embedder=FakeEmbedder())
    assert (result.documents, result.passages, result.skipped) == (2, 4, [])
    searcher = Searcher(tmp_path / "index", embedder=FakeEmbedder())
    for mode in ("dense", "lexical", "hybrid"):
        hits = searcher.search("limb sparing surgery", k=4, mode=mode)
        assert len({h.passage.id for h in hits}) == len(hits) >= 2, mode  # lexical finds only the two copies
        # Not de-duplicated: both copies come first, one from each file, with the same text and score.
        top = hits[:2]
        assert {h.passage.source for h in top} == {"a.md", "b.md"}, mode
        assert top[0].passage.text == top[1].passage.text
        assert top[0].passage.breadcrumb == top[1].passage.breadcrumb == "Treatments for sarcoma › Surgery"
        if mode != "hybrid":  # fusion works on ranks, and one copy has to be ranked above the other
            assert top[0].score == pytest.approx(top[1].score), mode


# ---- "Showing results for …" and searching the words as typed -------------------------------------------------


def test_a_repaired_word_is_shown_and_exact_searches_the_words_as_typed(searcher):
    result = searcher.search("Surgrey for the tumour", k=3)
    assert result.corrections == {"surgrey": "surgery"}  # keyed by the word as typed
    assert result.question_parts() == [("surgery", True), (" for the tumour", False)]
    assert result.showing == "Showing results for surgery for the tumour" and result.rewritten and not result.exact
    assert result.instead == "Search instead for “Surgrey for the tumour”"
    assert "surgeri" in result.terms
    typed = searcher.search("Surgrey for the tumour", k=3, exact=True)
    assert typed.exact and typed.corrections == {} and typed.showing == "" and not typed.rewritten
    assert "surgrey" in searcher.analyze("Surgrey", searcher.config.as_typed()).terms
    assert "tumor" in typed.terms  # British spelling is still folded: it is how the index spells the word


def test_lay_words_are_named_with_what_was_searched_for_them_and_exact_adds_none(searcher):
    result = searcher.search("chemo after it came back", k=3)
    assert result.understood == (("chemo", ("chemotherapy",)), ("came back", ("recurrent", "recurrence")))
    assert result.showing == (
        "Showing results for chemo after it came back, also searching for “chemotherapy”, “recurrent”, “recurrence”"
    )
    # Nothing repaired: the offer does not repeat the question as a different one.
    assert result.instead == "Search only for “chemo after it came back”"
    typed = searcher.search("chemo after it came back", k=3, exact=True)
    assert typed.expansions == () and typed.understood == () and typed.showing == "" and typed.instead == ""
    forms = searcher.analyze("chemo after it came back", searcher.config.as_typed())
    assert "(" not in forms.dense_text and "chemotherapi" not in forms.terms


def test_a_question_searched_as_asked_says_nothing(searcher):
    result = searcher.search("limb sparing surgery", k=3)
    assert result.showing == "" and result.question_parts() == [("limb sparing surgery", False)]
    assert result.to_json()["showing"] == "" and result.to_json()["exact"] is False


def test_exact_keeps_every_other_setting(searcher):
    cfg = replace(searcher.config, rerank_depth=7, mode="lexical")
    typed = cfg.as_typed()
    assert (typed.correct_spelling, typed.expand_lexical, typed.expand_dense) == (False, False, False)
    assert typed.fold_spelling and typed.rerank_depth == 7 and typed.mode == "lexical" and typed.as_typed_only
    assert not cfg.as_typed_only
