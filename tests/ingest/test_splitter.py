"""Splitter: long sections become overlapping, verbatim, within-budget passages with stable ids."""

from __future__ import annotations

import re

import pytest
from conftest import FakeEmbedder, write_tree

from passage_search.index.build import build_index
from passage_search.index.store import load_index
from passage_search.ingest.readers import Section, read_corpus
from passage_search.ingest.splitter import make_passages, split_text
from passage_search.passage import embedding_text


def words(text: str) -> int:
    return len(text.split())


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, by a rule independent of the package's."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


# 40 sentences of 5-9 words, each naming its own number so no two are alike.
LONG = " ".join(f"Point {i} covers topic {i}{' in more detail' * (i % 3)}." for i in range(1, 41))


def test_short_section_is_one_unchanged_piece():
    text = "Surgery removes the tumour.\n\nIt is the main treatment."
    assert split_text(text, words, budget=30) == [text]


def test_long_section_pieces_fit_the_budget():
    pieces = split_text(LONG, words, budget=30)
    assert len(pieces) > 3
    assert all(words(p) <= 30 for p in pieces), [words(p) for p in pieces]


def test_pieces_are_verbatim_slices_on_sentence_boundaries():
    for piece in split_text(LONG, words, budget=30):
        assert piece in LONG
        assert piece == piece.strip()
        assert piece.startswith("Point ") and piece.endswith(".")


def test_consecutive_pieces_overlap_by_one_sentence():
    pieces = split_text(LONG, words, budget=30, overlap=1)
    for before, after in zip(pieces, pieces[1:], strict=False):
        last = sentences(before)[-1]
        assert after.startswith(last), (before, after)
        assert sentences(after)[0] == last


def test_no_sentence_is_lost():
    pieces = split_text(LONG, words, budget=30)
    for sentence in sentences(LONG):
        assert any(sentence in piece for piece in pieces), sentence
    assert pieces[0].startswith(sentences(LONG)[0]) and pieces[-1].endswith(sentences(LONG)[-1])


def test_single_overlong_sentence_is_cut_between_words():
    words_list = [f"word{i}" for i in range(100)]
    text = "Intro sentence here. " + " ".join(words_list) + ". Closing sentence here."
    pieces = split_text(text, words, budget=32)
    assert all(words(p) <= 32 for p in pieces)
    for piece in pieces:
        start = text.index(piece)
        end = start + len(piece)
        assert start == 0 or text[start - 1].isspace(), piece
        assert end == len(text) or text[end].isspace(), piece
    covered = " ".join(pieces)
    assert all(w in covered.split() or w + "." in covered.split() for w in words_list)


@pytest.mark.parametrize("overlap", [0, 1, 2])
def test_every_sentence_kept_whatever_the_overlap(overlap):
    pieces = split_text(LONG, words, budget=25, overlap=overlap)
    assert all(any(s in p for p in pieces) for s in sentences(LONG))
    assert all(words(p) <= 25 for p in pieces)


def test_make_passages_keeps_heading_and_text_within_the_model_window():
    emb = FakeEmbedder(max_tokens=40)
    section = Section("d.txt", "Guide", ("Guide", "Long part"), LONG, "d.txt")
    passages = make_passages([section], count_tokens=emb.count_tokens, max_tokens=emb.max_tokens)
    assert len(passages) > 3
    for p in passages:
        # [CLS] and [SEP] take two places in the model's window.
        assert emb.count_tokens(embedding_text(p)) + 2 <= emb.max_tokens
        assert p.heading_path == ("Guide", "Long part") and p.text in LONG
    assert [p.position for p in passages] == list(range(len(passages)))


# ---- ids ------------------------------------------------------------------------------------------------

DOC = """
    Guide

    Opening words of the guide for patients.

    Part one

    {one}

    Part two

    The second part stays exactly the same in every build. It has two sentences.
    """


def build_ids(tmp_path, name, one):
    root = write_tree(tmp_path / name, {"guide.txt": DOC.format(one=one)})
    build_index(root, tmp_path / f"{name}-index", embedder=FakeEmbedder())
    return {p.heading_path: p.id for p in load_index(tmp_path / f"{name}-index").passages}


def test_ids_are_stable_across_builds(tmp_path):
    first = build_ids(tmp_path, "a", "Part one says something.")
    again = build_ids(tmp_path, "b", "Part one says something.")
    assert first == again
    assert len(set(first.values())) == len(first) == 3


def test_editing_one_section_keeps_the_ids_of_the_others(tmp_path):
    before = build_ids(tmp_path, "a", "Part one says something.")
    after = build_ids(tmp_path, "b", "Part one now says something different.")
    assert after[("Guide", "Part one")] != before[("Guide", "Part one")]
    assert after[("Guide", "Part two")] == before[("Guide", "Part two")]
    assert after[("Guide",)] == before[("Guide",)]


def test_duplicate_identical_passages_get_distinct_ids(tmp_path):
    root = write_tree(
        tmp_path / "c",
        {"faq.txt": "FAQ\n\nContact us\n\nCall the nurse line.\n\nContact us\n\nCall the nurse line.\n"},
    )
    sections = read_corpus(root).sections
    assert len(sections) == 2 and sections[0] == sections[1]
    passages = make_passages(sections, count_tokens=words, max_tokens=40)
    assert len(passages) == 2
    assert passages[0].id != passages[1].id
    again = make_passages(sections, count_tokens=words, max_tokens=40)
    assert [p.id for p in again] == [p.id for p in passages]


def test_batched_counting_splits_exactly_like_one_call_per_text():
    calls = {"one": 0, "many": 0}

    def one(text: str) -> int:
        calls["one"] += 1
        return words(text)

    def many(texts: list[str]) -> list[int]:
        calls["many"] += 1
        return [words(t) for t in texts]

    overlong = "word " * 80 + "end."
    sections = [
        Section("d", "T", ("T", f"H{i}"), text, "d.txt")
        for i, text in enumerate([LONG, "Short text here.", overlong + " " + LONG, LONG[:200]])
    ]
    plain = make_passages(sections, count_tokens=words, max_tokens=40)
    batched = make_passages(sections, count_tokens=one, max_tokens=40, count_many=many)
    assert batched == plain
    # Heads and section texts in two batched calls, plus one per long section for its sentences.
    assert calls["many"] == 2 + 3
    assert calls["one"] < 120, "only word-level cuts of the overlong sentence count one by one"
