"""The intent boost: a question's likely section type raises sections of that type, only when the classifier is sure."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FakeEmbedder, write_tree

from passage_search.index.build import build_index
from passage_search.search.config import SearchConfig
from passage_search.search.fusion import boost_by_intent
from passage_search.search.intent import load_intent
from passage_search.search.searcher import Searcher

FUSED = [(0, 0.050), (1, 0.049), (2, 0.048), (3, 0.047)]
KINDS = [0, -1, 1, 1]  # row 0 is of type 0, row 1 names no type, rows 2 and 3 are of type 1


def test_a_sure_question_raises_the_sections_of_its_type():
    boosted = boost_by_intent(FUSED, KINDS, [0.05, 0.95], weight=0.5, sure=0.9, rrf_k=30)
    assert [row for row, _ in boosted] == [2, 3, 0, 1]
    assert dict(boosted)[1] == 0.049, "a section naming no type keeps its score"


@pytest.mark.parametrize("probabilities", [[0.2, 0.8], [0.5, 0.5]])
def test_an_unsure_question_keeps_the_fused_order(probabilities):
    assert boost_by_intent(FUSED, KINDS, probabilities, weight=0.5, sure=0.9, rrf_k=30) == FUSED


def test_weight_zero_turns_it_off():
    assert boost_by_intent(FUSED, KINDS, [0.0, 1.0], weight=0.0, sure=0.9, rrf_k=30) == FUSED


def test_the_shipped_classifier_reads_the_packaged_models_vectors():
    from passage_search.embed.factory import make_embedder

    model = load_intent()
    assert model is not None and {"treatment", "symptoms", "outlook"} <= set(model.kinds)
    assert model.weights.shape == (len(model.kinds), 384)
    assert model.kind_of("Adult Acute Lymphoblastic Leukemia — Treatment") == model.kinds.index("treatment")
    assert model.kind_of("Treatments for soft tissue sarcoma › Surgery for soft tissue sarcoma") == -1
    assert model.model_fingerprint == make_embedder(None).fingerprint


def test_another_model_leaves_the_classifier_out(fake_index):
    assert Searcher(fake_index, embedder=FakeEmbedder()).intent is None


@pytest.mark.model
def test_templated_questions_are_read_as_their_type(real_embedder):
    model = load_intent()
    assert model is not None
    asked = {"What are the symptoms of Hodgkin lymphoma?": "symptoms", "How is Hodgkin lymphoma treated?": "treatment",
             "What is the outlook for Hodgkin lymphoma?": "outlook"}
    p = model.probabilities(real_embedder.embed(list(asked), batch_size=8))
    assert [model.kinds[i] for i in np.argmax(p, axis=1)] == list(asked.values())


@pytest.mark.model
def test_the_boost_puts_the_section_of_the_asked_type_first(tmp_path, real_embedder):
    corpus = write_tree(tmp_path / "corpus", {"corpus.jsonl": "\n".join([
        '{"_id": "a", "title": "Hodgkin Lymphoma — Information", "text": "Hodgkin lymphoma is a cancer of the '
        'lymph system. Treatment depends on the stage, and symptoms include swollen lymph nodes."}',
        '{"_id": "b", "title": "Hodgkin Lymphoma — Treatment", "text": "Chemotherapy and radiation therapy are '
        'used. Some patients have a stem cell transplant."}',
        '{"_id": "c", "title": "Hodgkin Lymphoma — Symptoms", "text": "Painless swelling of the lymph nodes in '
        'the neck, fever, night sweats and weight loss."}',
    ]) + "\n"})
    build_index(corpus, tmp_path / "index", embedder=real_embedder)
    searcher = Searcher(tmp_path / "index", embedder=real_embedder)
    assert searcher.intent is not None
    question = "What are the treatments for Hodgkin lymphoma?"  # the classifier is sure of this one (p > 0.9)
    on = searcher.search(question, k=3)
    off = searcher.search_batch([question], 3, config=SearchConfig(intent_weight=0.0))[0]
    assert on[0].passage.doc_id == "b"
    assert on[0].score > off[[h.passage.doc_id for h in off].index("b")].score, "the boost raised it"
    unsure = "my tummy hurts is it cancer"  # no type above 0.9: the order is fusion's alone
    assert searcher.search(unsure, k=3).hits == searcher.search_batch([unsure], 3,
                                                                      config=SearchConfig(intent_weight=0.0))[0].hits
