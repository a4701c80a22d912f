"""Fine-tuning with sentence-transformers' own trainer: checkpoints, resume, the model folder and its card.

MedQuAD triplets and RQE pairs are two datasets of one ``DatasetDict``; each batch comes from one of them
(proportional sampling) and never holds the same text twice (``NO_DUPLICATES``), so no in-batch negative is
a copy of a positive. The loss is MultipleNegativesRankingLoss, or its cached variant for batches larger
than memory or speed allow in one pass. datasets, accelerate, torch and sentence-transformers are imported
inside the functions: they take seconds to import and ``passage-search --help`` must not wait.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passage_search.embed.base import DEFAULT_MODEL
from passage_search.embed.model_folder import model_fingerprint, read_max_tokens, resolve_model
from passage_search.train import TrainError
from passage_search.train.data import TrainingData, load_dev_data
from passage_search.train.folder import (
    CHECKPOINTS,
    WEIGHTS,
    base_state,
    interpolate,
    is_finished,
    library_versions,
    read_card,
    write_card,
    write_model_folder,
)
from passage_search.train.metrics import Encode, dev_metrics

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

LOSSES = ("mnrl", "cached")
RUN_FILE = "run.json"  # in the checkpoints folder: what the checkpoints were trained on, checked on --resume
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """How to train; the CLI maps its flags onto these one to one."""

    epochs: float = 1.0
    batch: int = 32
    lr: float = 2e-5
    warmup: float = 0.1  # share of the steps with a rising learning rate
    seed: int = 42
    max_tokens: int = 192  # training window; the saved model keeps its base's window
    save_steps: int = 50
    loss: str = "mnrl"  # "cached": CachedMultipleNegativesRankingLoss, batches embedded in mini-batches
    mini_batch: int = 16  # the cached loss's pass size
    max_steps: int = -1  # stop after this many steps; -1: train every epoch


def require_extra() -> None:
    try:
        import accelerate  # noqa: F401
        import datasets  # noqa: F401
    except ImportError as exc:
        raise TrainError(
            "Training needs the train extra; install it with: pip install 'passage-search[train]'."
        ) from exc


def check_writable(out: Path) -> None:
    probe = out / f".write-test.{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok", "utf-8")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or exc
        raise TrainError(f"Cannot write to {out} ({reason}); pass an --out folder you can write to.") from exc


def load_model(path: Path, max_tokens: int) -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.disable_progress_bar()
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.max_seq_length = max_tokens
    return model


def encoder(model: SentenceTransformer) -> Encode:
    return lambda texts: model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                                      show_progress_bar=False)


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint (its trainer_state.json is written last), or None."""
    found = [(int(m.group(1)), p) for p in folder.glob("checkpoint-*") if (m := _CHECKPOINT.match(p.name))]
    complete = [(step, p) for step, p in found if (p / "trainer_state.json").is_file()]
    return max(complete)[1] if complete else None


def prepare_checkpoints(folder: Path, run: dict[str, Any], resume: bool, log: Log) -> Path | None:
    """The checkpoint to resume from (None: start at step 0), after clearing or checking the folder."""
    last = last_checkpoint(folder) if folder.is_dir() else None
    if resume and last is not None:
        try:
            recorded = json.loads((folder / RUN_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            recorded = None
        if recorded != run:
            raise TrainError(f"The checkpoints in {folder} come from a run with other data or settings; "
                             "run again without --resume to start over.")
        log(f"Resuming from {last.name} in {folder}.")
        return last
    if resume:
        log(f"No checkpoint in {folder} yet; starting from the beginning.")
    elif last is not None:
        log(f"Starting over: removing the checkpoints in {folder} (up to {last.name}); pass --resume to continue "
            "from them instead.")
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / RUN_FILE).write_text(json.dumps(run, indent=2), "utf-8")
    return None


def _trainer(
    model: SentenceTransformer, data: TrainingData, folder: Path, s: Settings, callbacks: Sequence[Any]
) -> Any:
    import torch
    from datasets import Dataset, DatasetDict
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    sets = {}
    for name in ("medquad", "rqe"):
        rows = [e for e in data.examples if e.dataset == name]
        if rows:
            columns = {"anchor": [e.anchor for e in rows], "positive": [e.positive for e in rows]}
            if all(e.negative for e in rows):
                columns["negative"] = [e.negative for e in rows]
            sets[name] = Dataset.from_dict(columns)
    if not sets:
        raise TrainError("No training examples; raise --pairs or --rqe.")
    if s.loss not in LOSSES:
        raise TrainError(f"Unknown loss {s.loss!r}; choose one of {', '.join(LOSSES)}.")
    loss: torch.nn.Module = MultipleNegativesRankingLoss(model)
    if s.loss == "cached":
        loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=s.mini_batch, show_progress_bar=False)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(folder), num_train_epochs=s.epochs, max_steps=s.max_steps, per_device_train_batch_size=s.batch,
        learning_rate=s.lr, warmup_steps=s.warmup, seed=s.seed, data_seed=s.seed, save_strategy="steps",
        save_steps=s.save_steps, save_total_limit=2, logging_steps=max(1, min(10, s.save_steps)), report_to="none",
        use_cpu=True, dataloader_num_workers=0, disable_tqdm=False, batch_sampler=BatchSamplers.NO_DUPLICATES,
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL,
    )
    return SentenceTransformerTrainer(model=model, args=args, train_dataset=DatasetDict(sets),
                                      loss={name: loss for name in sets}, callbacks=list(callbacks))


def train(
    data: TrainingData,
    out: Path,
    *,
    data_folder: Path | None = None,
    base: str | None = None,
    settings: Settings = Settings(),
    resume: bool = False,
    command: str = "",
    log: Log = print,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Fine-tune ``base`` on ``data`` into the model folder ``out``; returns the card written there.

    Checkpoints go to ``out/checkpoints`` every ``settings.save_steps`` steps and are removed once the model
    is written. ``resume`` continues from the newest one (if the data and settings are the same).
    """
    require_extra()
    out = Path(out)
    check_writable(out)
    if is_finished(out):
        raise TrainError(f"{out} already holds a trained model; pass another --out, or --interpolate to mix it.")
    base_name, base_path = resolve_model(base)
    run = {"data": data.fingerprint, "settings": asdict(settings), "base": model_fingerprint(base_path)}
    checkpoints = out / CHECKPOINTS
    start = prepare_checkpoints(checkpoints, run, resume, log)
    started = time.perf_counter()
    model = load_model(base_path, settings.max_tokens)
    trainer = _trainer(model, data, checkpoints, settings, callbacks)
    result = trainer.train(resume_from_checkpoint=str(start) if start else None)
    seconds = time.perf_counter() - started
    model.max_seq_length = read_max_tokens(base_path) or model.max_seq_length  # the index's window, not training's
    network: Any = model[0].auto_model  # the transformers BertModel: its keys are the base file's keys
    write_model_folder(network.state_dict(), out, base_path)
    log("Measuring the dev figures of the base and the trained model")
    dev = {"base": dev_metrics(encoder(load_model(base_path, model.max_seq_length)), data.dev),
           "model": dev_metrics(encoder(model), data.dev)}
    card = {
        "format": 1, "name": out.name, "kind": "fine-tuned",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": {"name": base_name, "model": None if base_name == DEFAULT_MODEL else str(base_path),
                       "fingerprint": model_fingerprint(base_path)},
        "window": model.max_seq_length,
        "data": {"folder": str(Path(data_folder).resolve()) if data_folder else None, "sources": data.sources,
                 "fingerprint": data.fingerprint, "dev_fingerprint": data.dev.fingerprint(), "counts": data.counts,
                 "settings": data.settings},
        "training": {**asdict(settings), "steps": trainer.state.global_step, "epochs_done": trainer.state.epoch,
                     "train_loss": round(float(result.training_loss), 4), "wall_seconds": round(seconds, 1),
                     "resumed_from": start.name if start else None},
        "command": command, "versions": library_versions(), "dev": dev,
    }
    write_card(out, card)
    shutil.rmtree(checkpoints, ignore_errors=True)  # only for resuming; the folder's fingerprint must not see them
    return card


def write_interpolated(
    tuned: Path, alpha: float, *, command: str = "", log: Log = print
) -> tuple[Path, dict[str, Any]]:
    """WiSE-FT: ``tuned``'s weights mixed with its base's into the sibling folder ``<tuned>-wise<alpha>``."""
    import torch
    from safetensors.torch import load_file

    tuned = Path(tuned)
    if not is_finished(tuned):
        raise TrainError(f"{tuned} holds no finished model to interpolate; train it first.")
    card = read_card(tuned)
    base_name, base_path = resolve_model(card.get("base_model", {}).get("model"))
    if model_fingerprint(base_path) != card.get("base_model", {}).get("fingerprint"):
        raise TrainError(f"The base model at {base_path} is not the one {tuned.name} was trained from.")
    dest = tuned.parent / f"{tuned.name}-wise{alpha:g}"
    check_writable(dest)
    with torch.no_grad():
        mixed = interpolate(load_file(str(tuned / WEIGHTS)), base_state(base_path), alpha)
    write_model_folder(mixed, dest, tuned)
    log(f"Measuring the dev figures of {dest.name}")
    settings = card.get("data", {}).get("settings", {})
    folder = card.get("data", {}).get("folder")
    dev = dict(card.get("dev", {}))
    dev["tuned"] = dev.pop("model", {})
    if folder:
        data_dev = load_dev_data(Path(folder), model=card["base_model"].get("model"),
                                 headings=settings.get("headings", "title"), heldout=settings.get("heldout", 500))
        if data_dev.fingerprint() != card.get("data", {}).get("dev_fingerprint"):
            log(f"Note: the dev data in {folder} changed since {tuned.name} was trained; its figures may not compare.")
        dev["model"] = dev_metrics(encoder(load_model(dest, int(card.get("window") or 256))), data_dev)
    mixed_card = {**card, "name": dest.name, "kind": "interpolated",
                  "created": datetime.now(UTC).isoformat(timespec="seconds"),
                  "interpolation": {"alpha": alpha, "tuned": str(tuned.resolve()),
                                    "tuned_fingerprint": model_fingerprint(tuned)},
                  "interpolation_command": command, "versions": library_versions(), "dev": dev}
    write_card(dest, mixed_card)
    return dest, mixed_card
