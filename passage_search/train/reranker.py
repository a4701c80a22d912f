"""Training the cross-encoder reranker with sentence-transformers' CrossEncoderTrainer.

The network is the packaged MiniLM (or ``--base``) with a new one-logit head, trained with
BinaryCrossEntropyLoss on labelled (question, passage) pairs from ``rerank_data``. Checkpoints, resume and
the card work as for the encoder (``encoder.prepare_checkpoints``, ``folder.write_card``). The folder holds
the transformers weights (config.json, model.safetensors), the tokenizer, ``model.onnx``, ``model_int8.onnx``
and ``reranker.json``, which ``passage_search.rerank`` loads; training.json is written last.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from passage_search.embed.base import DEFAULT_MODEL
from passage_search.embed.model_folder import model_fingerprint, resolve_model
from passage_search.train import TrainError
from passage_search.train.encoder import check_writable, prepare_checkpoints, require_extra
from passage_search.train.folder import CARD, CHECKPOINTS, library_versions, write_card
from passage_search.train.metrics import best_threshold_accuracy, ranking_metrics
from passage_search.train.rerank_data import RerankData
from passage_search.train.rerank_export import (
    CONFIG_FILE,
    FP32_FILE,
    INT8_FILE,
    TOKENIZER_FILES,
    export_reranker,
    write_config,
)

Log = Callable[[str], None]
Score = Callable[[list[tuple[str, str]]], np.ndarray]
DEV_QUESTIONS, DEV_CANDIDATES = 100, 20  # dev MRR: each question's answers among random held-out answers
NEGATIVES_SAID = {
    "other": "the best BM25 answer about another focus and a random answer about another focus",
    "mixed": "the best BM25 answer about another focus and one about the same focus, another question type",
    "same": "the best BM25 answer about the same focus, another question type",
}


@dataclass(frozen=True)
class RerankSettings:
    epochs: float = 1.0
    batch: int = 32
    lr: float = 3e-5
    warmup: float = 0.1
    seed: int = 42
    max_length: int = 256  # question + passage word pieces, in training and (by default) at query time
    save_steps: int = 100
    max_steps: int = -1


def is_finished(out: Path) -> bool:
    return (out / CARD).is_file() and (out / CONFIG_FILE).is_file()


def train_reranker(
    data: RerankData,
    out: Path,
    *,
    data_folder: Path | None = None,
    base: str | None = None,
    settings: RerankSettings = RerankSettings(),
    resume: bool = False,
    command: str = "",
    log: Log = print,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train a cross-encoder on ``data`` into ``out`` (weights, ONNX files, card); returns the card."""
    require_extra()
    out = Path(out)
    check_writable(out)
    if is_finished(out):
        raise TrainError(f"{out} already holds a trained reranker; pass another --out.")
    base_name, base_path = resolve_model(base)
    run = {"data": data.fingerprint, "settings": asdict(settings), "base": model_fingerprint(base_path),
           "kind": "reranker"}
    checkpoints = out / CHECKPOINTS
    start = prepare_checkpoints(checkpoints, run, resume, log)
    started = time.perf_counter()
    model = _load(base_path, settings.max_length)
    trainer = _trainer(model, data, checkpoints, settings, callbacks)
    result = trainer.train(resume_from_checkpoint=str(start) if start else None)
    seconds = time.perf_counter() - started
    network: Any = model[0].auto_model  # transformers' BertForSequenceClassification
    network.save_pretrained(str(out))
    (out / "model.safetensors").chmod(0o644)  # safetensors writes 0600; others read the folder
    for name in TOKENIZER_FILES:
        if (base_path / name).is_file():
            shutil.copyfile(base_path / name, out / name)
    log("Exporting to ONNX (fp32 and int8)")
    export_reranker(out)
    # fp32 runs by default: int8 moved tune nDCG@10 by more than 0.005 on run B (docs/training.md, "Reranker");
    # point reranker.json's "onnx" at model_int8.onnx (23 MB) for a model whose int8 file passes that check.
    write_config(out, onnx_file=FP32_FILE, max_length=settings.max_length)
    log("Measuring the dev figures of the fp32 and int8 files")
    dev = {variant: dev_metrics(_onnx_scorer(out, file), data) for variant, file in
           (("onnx-fp32", FP32_FILE), ("onnx-int8", INT8_FILE))}
    card = {
        "format": 1, "name": out.name, "kind": "cross-encoder",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": {"name": base_name, "model": None if base_name == DEFAULT_MODEL else str(base_path),
                       "fingerprint": model_fingerprint(base_path)},
        "window": settings.max_length,
        "data": {"folder": str(Path(data_folder).resolve()) if data_folder else None, "sources": data.sources,
                 "fingerprint": data.fingerprint, "dev_fingerprint": data.dev.fingerprint(), "counts": data.counts,
                 "settings": data.settings},
        "training": {**asdict(settings), "loss": "BinaryCrossEntropyLoss", "steps": trainer.state.global_step,
                     "epochs_done": trainer.state.epoch, "train_loss": round(float(result.training_loss), 4),
                     "wall_seconds": round(seconds, 1), "resumed_from": start.name if start else None},
        "files": {name: (out / name).stat().st_size for name in (FP32_FILE, INT8_FILE, "model.safetensors")},
        "command": command, "versions": library_versions(), "dev": dev,
    }
    shutil.rmtree(checkpoints, ignore_errors=True)  # only for resuming
    write_card(out, card, readme=render_readme(card))
    return card


def _load(path: Path, max_length: int) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers
    from sentence_transformers.cross_encoder import CrossEncoder

    transformers.logging.disable_progress_bar()
    try:
        return CrossEncoder(str(path), num_labels=1, max_length=max_length, local_files_only=True, device="cpu")
    except Exception as exc:  # any failure inside the model stack means the same thing here
        raise TrainError(f"The base model at {path} cannot be loaded as a cross-encoder ({exc}).") from exc


def _trainer(model: Any, data: RerankData, folder: Path, s: RerankSettings, callbacks: Sequence[Any]) -> Any:
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    if not data.pairs:
        raise TrainError("No training pairs; raise --pairs or --rqe.")
    dataset = Dataset.from_dict({"query": [p.query for p in data.pairs], "text": [p.text for p in data.pairs],
                                 "label": [p.label for p in data.pairs]})
    args = CrossEncoderTrainingArguments(
        output_dir=str(folder), num_train_epochs=s.epochs, max_steps=s.max_steps, per_device_train_batch_size=s.batch,
        learning_rate=s.lr, warmup_steps=s.warmup, seed=s.seed, data_seed=s.seed, save_strategy="steps",
        save_steps=s.save_steps, save_total_limit=2, logging_steps=max(1, min(20, s.save_steps)), report_to="none",
        use_cpu=True, dataloader_num_workers=0, disable_tqdm=False,
    )
    return CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=BinaryCrossEntropyLoss(model),
                               callbacks=list(callbacks))


def _onnx_scorer(folder: Path, onnx_file: str) -> Score:
    from passage_search.rerank.onnx_reranker import OnnxReranker

    reranker = OnnxReranker(folder, onnx_file=onnx_file, threads=2)
    return lambda pairs: np.concatenate([reranker.score_pairs(pairs[i:i + 64]) for i in range(0, len(pairs), 64)])


def dev_metrics(score: Score, data: RerankData) -> dict[str, float]:
    """Held-out MedQuAD MRR@10 / Hit@1 (answers among random held-out answers) and RQE dev accuracy."""
    dev, out = data.dev, {}
    rng = random.Random(0)
    rows = list(range(len(dev.questions)))[:DEV_QUESTIONS]
    if rows:
        matrix, relevant = [], []
        for row in rows:
            wanted = sorted(dev.relevant[row])
            others = [c for c in rng.sample(range(len(dev.passages)), min(len(dev.passages), DEV_CANDIDATES * 2))
                      if c not in dev.relevant[row]][:DEV_CANDIDATES - len(wanted)]
            candidates = wanted + others
            matrix.append(score([(dev.questions[row], dev.passages[c]) for c in candidates]))
            relevant.append(frozenset(range(len(wanted))))
        width = max(len(r) for r in matrix)
        padded = np.full((len(matrix), width), -np.inf)
        for i, r in enumerate(matrix):
            padded[i, :len(r)] = r
        out.update({f"medquad_heldout_{k}": round(v, 4) for k, v in ranking_metrics(padded, relevant).items()})
    if dev.rqe:
        scores = score([(q, f) for q, f, _ in dev.rqe])
        accuracy, threshold = best_threshold_accuracy(scores, [lab for *_, lab in dev.rqe])
        out.update({"rqe_dev_accuracy": round(accuracy, 4), "rqe_dev_threshold": round(threshold, 4)})
    return out


def render_readme(card: dict[str, Any]) -> str:
    data, train, base = card.get("data", {}), card.get("training", {}), card.get("base_model", {})
    dev = card.get("dev", {})
    names = sorted({k for figures in dev.values() for k in figures})
    table = ["| metric | " + " | ".join(dev) + " |", "|---|" + "---|" * len(dev)]
    table += [f"| {n} | " + " | ".join(str(f.get(n, "")) for f in dev.values()) + " |" for n in names]
    return "\n".join([
        f"# {card.get('name', 'passage-search reranker')}",
        "",
        f"Cross-encoder reranker fine-tuned with BinaryCrossEntropyLoss from `{base.get('name')}` (fingerprint "
        f"`{base.get('fingerprint')}`, a new one-logit head), for `passage-search --rerank`. It scores a "
        "(question, passage) pair; the passage is formatted as the index embeds it (heading path, blank line, text).",
        "Load it with `passage_search.rerank.factory.load_reranker(PATH)` (ONNX Runtime; nothing is downloaded).",
        "",
        "## Data",
        "",
        "- MedQuAD question -> answer pairs (Ben Abacha & Demner-Fushman, BMC Bioinformatics 20:511, 2019; CC BY 4.0):"
        f" the answer is a positive; negatives: {NEGATIVES_SAID.get(data.get('settings', {}).get('negatives'), '?')}.",
        "- MEDIQA 2019 RQE question <-> FAQ pairs (Ben Abacha & Demner-Fushman, AMIA 2016): entailed = positive,"
        " not entailed = negative.",
        "- Never trained on: the cancer.gov evaluation corpus or any question set of the project's tests.",
        f"- Examples fingerprint (sha256): `{data.get('fingerprint')}`",
        f"- Counts: {', '.join(f'{k} {v}' for k, v in data.get('counts', {}).items())}",
        f"- Data settings: {', '.join(f'{k} {v}' for k, v in data.get('settings', {}).items())}",
        "",
        "## Training",
        "",
        f"- Command: `{card.get('command') or '(library call)'}`",
        "- " + ", ".join(f"{k} {v}" for k, v in train.items() if not isinstance(v, dict | list)),
        f"- Files (bytes): {', '.join(f'{k} {v}' for k, v in card.get('files', {}).items())}",
        f"- Libraries: {', '.join(f'{k} {v}' for k, v in card.get('versions', {}).items())}",
        "",
        "## Dev figures (not the project's evaluation sets)",
        "",
        *table,
        "",
        f"MedQuAD MRR@10 ranks each of {DEV_QUESTIONS} held-out questions' answers among {DEV_CANDIDATES} held-out",
        "answers (foci never trained on); RQE accuracy is at the best threshold on the dev pairs themselves.",
        "",
    ])
