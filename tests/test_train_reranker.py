"""passage-search train --reranker: labelled pairs, negatives by focus, determinism, and one tiny real run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_train import _focus_names, data_dir  # noqa: F401  (data_dir is a fixture: the synthetic data folder)

from passage_search.app.cli import main
from passage_search.embed.model_folder import default_model_path
from passage_search.passage import embedding_text
from passage_search.train import TrainError
from passage_search.train.data import AnswerFormatter, fold_focus, read_medquad
from passage_search.train.rerank_data import load_rerank_data


def _load(folder, **kw):
    settings = {"questions": 20, "rqe": 20, "max_tokens": 48, "seed": 5, "heldout": 10} | kw
    return load_rerank_data(folder, **settings)


def _focus_of(folder):
    pairs = read_medquad(folder / "medquad_pairs.jsonl")
    passages = AnswerFormatter(default_model_path(), 48).passages(pairs)
    return ({embedding_text(p): fold_focus(q.focus) for p, q in zip(passages, pairs, strict=True)},
            {q.query: fold_focus(q.focus) for q in pairs})


def test_each_question_has_its_answer_and_other_focus_negatives(data_dir):  # noqa: F811
    data = _load(data_dir)
    text_focus, query_focus = _focus_of(data_dir)
    medquad = [p for p in data.pairs if p.dataset == "medquad"]
    positives = [p for p in medquad if p.label == 1.0]
    negatives = [p for p in medquad if p.label == 0.0]
    assert len(positives) == 20 and len(negatives) == 40  # one BM25 and one random negative each
    assert all(text_focus[p.text] == query_focus[p.query] for p in positives)
    assert all(text_focus[p.text] != query_focus[p.query] for p in negatives)
    assert data.counts["medquad_negatives_same_focus"] == 0


def test_mixed_negatives_add_the_same_focus_with_another_type(data_dir):  # noqa: F811
    data = _load(data_dir, negatives="mixed")
    text_focus, query_focus = _focus_of(data_dir)
    negatives = [p for p in data.pairs if p.dataset == "medquad" and p.label == 0.0]
    same = [p for p in negatives if text_focus[p.text] == query_focus[p.query]]
    assert same and len(same) == data.counts["medquad_negatives_same_focus"] == 20
    assert all(p.text not in {q.text for q in data.pairs if q.query == p.query and q.label == 1.0} for p in same)


def test_rqe_entailed_is_positive_not_entailed_negative_and_self_pairs_are_skipped(data_dir):  # noqa: F811
    rqe = [p for p in _load(data_dir).pairs if p.dataset == "rqe"]
    by_number = {int(p.query.split()[3]): p.label for p in rqe}
    assert by_number == {i: (1.0 if i % 3 != 0 else 0.0) for i in range(12)}
    assert all(p.query != "How do I treat a cold?" for p in rqe)


def test_same_seed_same_pairs_and_heldout_foci_never_trained(data_dir):  # noqa: F811
    data, again, other = _load(data_dir), _load(data_dir), _load(data_dir, seed=6)
    assert data.fingerprint == again.fingerprint and data.pairs == again.pairs
    assert other.fingerprint != data.fingerprint
    _, held = _focus_names()
    trained = " ".join(p.query + p.text for p in data.pairs)
    assert all(name not in trained for name in held) and data.dev.questions


def test_unknown_negatives_and_missing_data_are_one_sentence(tmp_path, data_dir):  # noqa: F811
    with pytest.raises(TrainError, match="Unknown negatives"):
        _load(data_dir, negatives="nearby")
    with pytest.raises(TrainError, match="does not exist; pass --data"):
        _load(tmp_path / "nowhere")


@pytest.mark.model
def test_a_tiny_real_run_writes_a_folder_the_reranker_loads(data_dir, tmp_path, capsys):  # noqa: F811
    from passage_search.rerank.factory import load_reranker
    from passage_search.rerank.onnx_reranker import OnnxReranker

    out = tmp_path / "reranker"
    args = ["train", "--reranker", "--data", str(data_dir), "--out", str(out), "--pairs", "8", "--rqe", "4",
            "--batch", "4", "--max-steps", "2", "--warmup", "0", "--max-tokens", "32", "--max-length", "64",
            "--heldout", "5"]
    assert main(args) == 0
    card = json.loads((out / "training.json").read_text("utf-8"))
    assert card["kind"] == "cross-encoder" and card["training"]["steps"] == 2
    assert card["command"].startswith("passage-search train --data") and "--reranker" in card["command"]
    assert set(card["dev"]) == {"onnx-fp32", "onnx-int8"} and "rqe_dev_accuracy" in card["dev"]["onnx-int8"]
    assert not (out / "checkpoints").exists() and (out / "README.md").is_file()
    config = json.loads((out / "reranker.json").read_text("utf-8"))
    assert config["onnx"] == "model.onnx" and config["max_length"] == 64
    assert (out / "model_int8.onnx").stat().st_size < 30e6 < (out / "model.onnx").stat().st_size
    texts = ["Sarcoma\n\nSurgery is the main treatment.", "Diet\n\nSmall meals help."]
    fp32 = load_reranker(out).score("how is sarcoma treated", texts)
    int8 = OnnxReranker(out, onnx_file="model_int8.onnx").score("how is sarcoma treated", texts)
    assert int8.shape == fp32.shape == (2,) and np.abs(int8 - fp32).max() < 0.5
    assert main(args) == 1  # a finished folder is refused, in one sentence
    assert "already holds a trained reranker" in capsys.readouterr().err
