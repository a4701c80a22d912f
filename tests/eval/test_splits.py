"""Every question set of ours is split into tune and test by one fixed rule, and eval can score one part."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import REPO

from passage_search.eval.beir import EvalError, load_beir

DATA = REPO / "tests" / "data"
SPLITS = DATA / "splits"


def rule(qid: str) -> str:
    return "test" if int(hashlib.sha256(qid.encode("utf-8")).hexdigest(), 16) % 10 < 6 else "tune"


def rows(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["seed_questions", "cancergov_lay", "offtopic", "cancergov_dev"])
def test_split_files_follow_the_rule(name):
    lines = (SPLITS / f"{name}.tsv").read_text("utf-8").splitlines()
    assert lines[0] == "id\tquestion\tsplit"
    cells = [line.split("\t") for line in lines[1:]]
    assert cells and all(split == rule(qid) for qid, _q, split in cells)


@pytest.mark.parametrize("folder", ["sarcoma_blind", "sarcoma_blind2", "cancergov_blind", "offtopic_blind"])
def test_blind_sets_carry_the_rule(folder):
    questions = rows(DATA / folder / "queries.jsonl")
    assert questions and all(q["metadata"]["split"] == rule(q["_id"]) for q in questions)


def test_the_seed_set_splits_by_the_tsv_matched_on_text():
    kw = {"splits": SPLITS / "seed_questions.tsv"}
    tune, test = (load_beir(DATA / "seed_beir", split=s, **kw) for s in ("tune", "test"))
    everything = load_beir(DATA / "seed_beir")
    assert set(tune.queries).isdisjoint(test.queries)
    assert set(tune.queries) | set(test.queries) == set(everything.queries)
    assert (len(tune.queries), len(test.queries)) == (10, 18)
    assert test.name == "seed_beir-test"


def test_metadata_split_wins_and_only_answerable_questions_are_scored():
    test = load_beir(DATA / "sarcoma_blind", corpus=DATA / "seed_beir" / "corpus.jsonl", split="test")
    meta = {q["_id"]: q["metadata"] for q in rows(DATA / "sarcoma_blind" / "queries.jsonl")}
    assert test.queries and all(meta[q]["split"] == "test" and meta[q]["answerable"] for q in test.queries)


def test_a_question_without_a_split_is_refused_in_one_sentence():
    with pytest.raises(EvalError, match=r"^Question q01 of seed_beir has no split; pass --splits"):
        load_beir(DATA / "seed_beir", split="test")
