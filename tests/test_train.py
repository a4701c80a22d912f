"""passage-search train: data formatting, hard negatives, determinism, the card, checkpoints, and one tiny real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from passage_search.app.cli import main
from passage_search.embed.model_folder import default_model_path
from passage_search.ingest.section import Section
from passage_search.ingest.splitter import make_passages
from passage_search.passage import embedding_text
from passage_search.train import TrainError
from passage_search.train.data import (
    AnswerFormatter,
    QAPair,
    fold_focus,
    is_heldout,
    load_training_data,
    read_medquad,
)
from passage_search.train.encoder import prepare_checkpoints
from passage_search.train.folder import interpolate, is_finished, read_card, write_card
from passage_search.train.metrics import best_threshold_accuracy, ranking_metrics

QTYPES = ("information", "symptoms", "treatment", "causes")


def _focus_names() -> tuple[list[str], list[str]]:
    """Ten foci on the training side and two held out (the held-out slice is a hash of the folded focus)."""
    train, held = [], []
    for n in range(1, 400):
        name = f"Condition {n} disease"
        pair = QAPair("", "", "", "", "", "", name)
        (held if is_heldout(pair) else train).append(name)
        if len(train) >= 10 and len(held) >= 2:
            break
    return train[:10], held[:2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A training folder shaped like ../shared/data/train, with two spellings of one focus."""
    folder = tmp_path_factory.mktemp("train-data")
    train, held = _focus_names()
    rows = []
    for focus in [*train, *held]:
        for qtype in QTYPES:
            n = len(rows)
            text = " ".join(f"{focus} {qtype} note {i} mentions marker{n}x{i} and common words." for i in range(12))
            rows.append({"query": f"What are the {qtype} of {focus} ?", "doc_id": f"D{n:03d}", "text": text,
                         "title": f"{focus} — {qtype}", "source": "GARD", "qtype": qtype, "focus": focus})
    # Another source's answer to the same question, under another spelling of the focus.
    twin = train[0].replace(" disease", "'s Disease")
    rows.append({**rows[0], "doc_id": "D999", "focus": twin, "title": f"{twin} — information",
                 "query": f"What is (are) {twin} ?", "text": rows[0]["text"].replace("note", "remark")})
    (folder / "medquad_pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    rqe = [{"question": f"my question number {i} about a rash that itches", "faq": f"What causes rash {i}?",
            "label": i % 3 != 0, "type": None} for i in range(12)]
    rqe.append({"question": "How do I treat a cold?", "faq": "how do I treat a cold?", "label": True, "type": None})
    (folder / "rqe_pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rqe), "utf-8")
    dev = [{"question": f"is my cough number {i} serious", "faq": f"When is cough {i} serious?", "label": i % 2 == 0,
            "type": None} for i in range(8)]
    (folder / "rqe_dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dev), "utf-8")
    return folder


@pytest.fixture(scope="module")
def data(data_dir):
    return load_training_data(data_dir, pairs=30, rqe=20, max_tokens=48, seed=7, heldout=20)


def test_fold_focus_merges_spellings_of_one_focus():
    assert fold_focus("Parkinson's Disease") == fold_focus("Parkinson disease") == "parkinson"
    assert fold_focus("ABCD syndrome") == fold_focus("abcd") != fold_focus("Asthma")


def test_positives_are_the_first_piece_the_index_would_embed(data, data_dir):
    tokenizer = AnswerFormatter(default_model_path(), 48)
    by_query = {p.query: p for p in read_medquad(data_dir / "medquad_pairs.jsonl")}
    examples = [e for e in data.examples if e.dataset == "medquad"]
    assert len(examples) == 30
    for example in examples:
        pair = by_query[example.anchor]
        section = Section(pair.doc_id, pair.title, (pair.title,), pair.text, pair.source)
        first = make_passages([section], count_tokens=tokenizer.count, max_tokens=48)[0]
        assert example.positive == embedding_text(first)
        head, body = example.positive.split("\n\n", 1)
        assert head == pair.title and pair.text.startswith(body) and body.endswith(".")
        assert tokenizer.count(example.positive) + 2 <= 48 < tokenizer.count(pair.text)


def test_negatives_never_answer_the_same_focus_and_type(data, data_dir):
    pairs = read_medquad(data_dir / "medquad_pairs.jsonl")
    passages = AnswerFormatter(default_model_path(), 48).passages(pairs)
    group_of = {embedding_text(p): pair.group for p, pair in zip(passages, pairs, strict=True)}
    query_group = {pair.query: pair.group for pair in pairs}
    examples = [e for e in data.examples if e.dataset == "medquad"]
    assert all(e.negative for e in examples) and data.counts["hard_negatives"] == len(examples)
    for example in examples:
        assert group_of[example.negative] != query_group[example.anchor]
        assert example.negative != example.positive
    # The other source's answer to the same (folded) focus and type is never a negative of the first.
    twin = next(p for p in pairs if p.doc_id == "D999")
    assert all(group_of[e.negative] != twin.group for e in examples if query_group[e.anchor] == twin.group)


def test_the_same_seed_gives_the_same_examples_and_another_seed_others(data, data_dir):
    again = load_training_data(data_dir, pairs=30, rqe=20, max_tokens=48, seed=7, heldout=20)
    other = load_training_data(data_dir, pairs=30, rqe=20, max_tokens=48, seed=8, heldout=20)
    assert again.fingerprint == data.fingerprint and again.examples == data.examples
    assert other.fingerprint != data.fingerprint
    assert other.dev.fingerprint() == data.dev.fingerprint()  # the dev data does not move with the seed


def test_heldout_foci_are_never_trained_on(data, data_dir):
    _, held = _focus_names()
    trained = " ".join(e.anchor + e.positive + e.negative for e in data.examples)
    assert all(name not in trained for name in held)
    assert data.dev.questions and all(any(name in q for name in held) for q in data.dev.questions)
    for question, relevant in zip(data.dev.questions, data.dev.relevant, strict=True):
        assert relevant and all(data.dev.passages[r].split(" — ")[0] in question for r in relevant)


def test_rqe_gives_entailed_pairs_only_and_skips_a_question_paired_with_itself(data):
    rqe = [e for e in data.examples if e.dataset == "rqe"]
    numbers = sorted(int(e.anchor.split()[3]) for e in rqe)
    assert numbers == [i for i in range(12) if i % 3 != 0]
    assert data.counts["rqe_identical_skipped"] == 1 and all(not e.negative for e in rqe)


def test_missing_data_is_one_sentence(tmp_path):
    with pytest.raises(TrainError, match="does not exist; pass --data"):
        load_training_data(tmp_path / "nowhere")
    (tmp_path / "medquad_pairs.jsonl").write_text('{"query": "x"}\n', "utf-8")
    with pytest.raises(TrainError, match="line 1 lacks"):
        load_training_data(tmp_path)


def test_best_threshold_accuracy_and_ranking_metrics():
    sims = np.array([0.9, 0.8, 0.4, 0.3, 0.7])
    accuracy, threshold = best_threshold_accuracy(sims, [True, True, False, False, False])
    assert accuracy == 1.0 and 0.8 > threshold > 0.7
    assert best_threshold_accuracy(np.array([0.1, 0.9]), [True, False])[0] == 0.5
    sims = np.array([[0.9, 0.1, 0.5], [0.9, 0.1, 0.5]])
    assert ranking_metrics(sims, [frozenset({0}), frozenset({2})]) == {"mrr@10": 0.75, "hit@1": 0.5}


def test_interpolation_averages_every_parameter():
    torch = pytest.importorskip("torch")
    tuned = {"w": torch.tensor([2.0, 4.0]), "ids": torch.tensor([1, 2])}
    base = {"w": torch.tensor([0.0, 0.0]), "ids": torch.tensor([1, 2]), "extra": torch.tensor([9.0])}
    assert torch.equal(interpolate(tuned, base, 0.25)["w"], torch.tensor([0.5, 1.0]))
    assert torch.equal(interpolate(tuned, base, 1.0)["w"], tuned["w"])
    assert torch.equal(interpolate(tuned, base, 0.0)["ids"], tuned["ids"])
    with pytest.raises(TrainError, match="between 0 and 1"):
        interpolate(tuned, base, 1.5)
    with pytest.raises(TrainError, match="no parameter w"):
        interpolate(tuned, {"w": torch.zeros(3)}, 0.5)


def test_the_card_is_readme_and_json(tmp_path):
    card = {"name": "m", "command": "passage-search train --out m", "base_model": {"name": "base"},
            "data": {"fingerprint": "abc123", "sources": {"f.jsonl": "0" * 64}, "counts": {"medquad_examples": 3}},
            "training": {"steps": 2}, "versions": {"torch": "x"}, "dev": {"base": {"mrr": 0.5}, "model": {"mrr": 0.6}}}
    (tmp_path / "model.safetensors").write_bytes(b"")
    write_card(tmp_path, card)
    readme = (tmp_path / "README.md").read_text("utf-8")
    assert "abc123" in readme and "passage-search train --out m" in readme and "| mrr | 0.5 | 0.6 |" in readme
    assert read_card(tmp_path) == card and is_finished(tmp_path)


def test_checkpoints_restart_or_resume_and_say_so(tmp_path):
    said: list[str] = []
    folder = tmp_path / "checkpoints"
    run = {"data": "f1", "settings": {"lr": 1e-5}}
    assert prepare_checkpoints(folder, run, True, said.append) is None and "starting from the beginning" in said[-1]
    (folder / "checkpoint-3").mkdir()
    (folder / "checkpoint-3" / "trainer_state.json").write_text("{}", "utf-8")
    (folder / "checkpoint-5").mkdir()  # interrupted while saving: no trainer_state.json
    assert prepare_checkpoints(folder, run, True, said.append) == folder / "checkpoint-3"
    with pytest.raises(TrainError, match="other data or settings"):
        prepare_checkpoints(folder, {**run, "data": "f2"}, True, said.append)
    assert prepare_checkpoints(folder, run, False, said.append) is None
    assert "Starting over" in said[-1] and "--resume" in said[-1] and not (folder / "checkpoint-3").exists()


def test_help_is_instant_and_errors_are_one_sentence(tmp_path, data_dir, capsys, monkeypatch):
    code = (
        "import sys\nfrom passage_search.app.cli import main\n"
        "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'datasets' not in sys.modules, 'heavy import'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "--interpolate" in done.stdout, done.stderr
    assert main(["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "m")]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0
    blocker = tmp_path / "file"
    blocker.write_text("x", "utf-8")
    assert main(["train", "--data", str(data_dir), "--out", str(blocker / "m")]) == 1
    assert "Cannot write to" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if the train extra were not installed
    assert main(["train", "--data", str(data_dir), "--out", str(tmp_path / "m")]) == 1
    assert "pip install 'passage-search[train]'" in capsys.readouterr().err


# ---- the real packaged model --------------------------------------------------------------------------------


@pytest.mark.model
def test_a_tiny_real_run_writes_a_folder_both_backends_load(data_dir, tmp_path, monkeypatch, capsys):
    from passage_search.embed.factory import make_embedder

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the ONNX export stays out of the user's cache
    out = tmp_path / "tuned"
    args = ["train", "--data", str(data_dir), "--out", str(out), "--pairs", "16", "--rqe", "4", "--batch", "4",
            "--max-steps", "1", "--warmup", "0", "--max-tokens", "32", "--heldout", "5", "--interpolate", "0.5"]
    assert main(args) == 0
    card = json.loads((out / "training.json").read_text("utf-8"))
    assert card["training"]["steps"] == 1 and card["data"]["counts"]["medquad_examples"] == 16
    assert card["command"].startswith("passage-search train --data") and "--interpolate 0.5" in card["command"]
    assert set(card["dev"]) == {"base", "model"} and "rqe_dev_accuracy" in card["dev"]["model"]
    assert not (out / "checkpoints").exists() and (out / "README.md").is_file()
    mixed = tmp_path / "tuned-wise0.5"
    assert json.loads((mixed / "training.json").read_text("utf-8"))["interpolation"]["alpha"] == 0.5
    texts = ["what are the treatments for sarcoma", "Surgery\n\nSurgery is the main treatment."]
    base = make_embedder(None, backend="torch").embed(texts)
    for folder in (out, mixed):
        torch_vectors = make_embedder(str(folder), backend="torch").embed(texts)
        onnx_embedder = make_embedder(str(folder), backend="onnx")
        assert onnx_embedder.max_tokens == 256  # the index's window, not the training one
        assert np.abs(onnx_embedder.embed(texts) - torch_vectors).max() < 1e-4
        assert np.abs(torch_vectors - base).max() > 1e-5  # the weights moved
    assert main(args[:-2] + ["--interpolate", "0.5"]) == 0  # a finished folder: only interpolates again
    assert "writing only the interpolated folders" in capsys.readouterr().err


@pytest.mark.model
def test_an_interrupted_run_resumes_where_it_stopped(data_dir, tmp_path):
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from passage_search.train.encoder import Settings, train

    data = load_training_data(data_dir, pairs=16, rqe=0, max_tokens=32, seed=3, heldout=0)
    settings = Settings(batch=4, max_steps=2, save_steps=1, max_tokens=32, seed=3, warmup=0.0)

    class Interrupt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 1:
                raise KeyboardInterrupt

    train(data, tmp_path / "whole", settings=settings, log=lambda _m: None)
    with pytest.raises(KeyboardInterrupt):
        train(data, tmp_path / "cut", settings=settings, log=lambda _m: None, callbacks=[Interrupt()])
    assert (tmp_path / "cut" / "checkpoints" / "checkpoint-1").is_dir()
    class Count(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            Count.steps += 1

    said: list[str] = []
    card = train(data, tmp_path / "cut", settings=settings, resume=True, log=said.append, callbacks=[Count()])
    assert any("Resuming from checkpoint-1" in line for line in said) and card["training"]["resumed_from"]
    assert Count.steps == 1 and card["training"]["steps"] == 2  # only the step after the checkpoint ran again
    whole = load_file(str(tmp_path / "whole" / "model.safetensors"))
    cut = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert all(np.allclose(whole[k].numpy(), cut[k].numpy(), atol=1e-6) for k in whole)
