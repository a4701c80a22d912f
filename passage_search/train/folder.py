"""The model folder a training run leaves: the base folder's layout with new weights, and its card.

sentence-transformers 6 saves a newer layout (module types under ``sentence_transformers.base``, a pooling
config without ``pooling_mode_mean_tokens``, no ``max_seq_length``) that our ONNX backend does not read. The
packaged model's own layout is read by both backends and by sentence-transformers, and the network is the
same, so a trained folder is the base folder's files with the new weights in ``model.safetensors``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passage_search.train import TrainError

if TYPE_CHECKING:
    import torch

WEIGHTS = "model.safetensors"
CARD = "training.json"
README = "README.md"
CHECKPOINTS = "checkpoints"
# Not the base's weights, card or data_config.json (the list of the base's own training sets): ours replace them.
_NOT_COPIED = {WEIGHTS, "pytorch_model.bin", README, CARD, CHECKPOINTS, "data_config.json"}
LIBRARIES = ("passage-search", "torch", "transformers", "sentence-transformers", "tokenizers", "datasets",
             "accelerate")


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def is_finished(out: Path) -> bool:
    """Whether ``out`` holds a finished model (its card is written last)."""
    return (out / CARD).is_file() and (out / WEIGHTS).is_file()


def write_model_folder(state: Mapping[str, torch.Tensor], out: Path, base: Path) -> None:
    """Copy the base folder's files (not its weights or card) into ``out`` and write ``state`` as its weights."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    for item in sorted(base.iterdir()):
        if item.name in _NOT_COPIED or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, out / item.name, dirs_exist_ok=True, copy_function=shutil.copyfile)
        else:
            shutil.copyfile(item, out / item.name)
    tmp = out / f".{WEIGHTS}.{os.getpid()}.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp), metadata={"format": "pt"})
    tmp.chmod(0o644)  # safetensors writes 0600; the folder is read by whoever builds an index with it
    os.replace(tmp, out / WEIGHTS)  # whole or not at all


def base_state(base: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    file = base / WEIGHTS
    if not file.is_file():
        raise TrainError(f"The base model at {base} has no {WEIGHTS}; interpolation needs its weights.")
    return load_file(str(file))


def interpolate(
    tuned: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """WiSE-FT: every parameter as ``alpha * tuned + (1 - alpha) * base`` (alpha 1 is the tuned model)."""
    if not 0.0 <= alpha <= 1.0:
        raise TrainError(f"--interpolate takes a weight between 0 and 1, got {alpha}.")
    out = {}
    for name, value in tuned.items():
        other = base.get(name)
        if other is None or other.shape != value.shape:
            raise TrainError(f"The base model has no parameter {name} of shape {tuple(value.shape)}; "
                             "interpolate only with the model the run started from.")
        out[name] = alpha * value + (1.0 - alpha) * other if value.is_floating_point() else value.clone()
    return out


def write_card(out: Path, card: Mapping[str, Any], *, readme: str | None = None) -> None:
    """README.md for people (``readme``, else the encoder's), training.json for programs; the JSON last, as it
    marks the folder finished."""
    (out / README).write_text(render_readme(card) if readme is None else readme, "utf-8")
    tmp = out / f".{CARD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, out / CARD)


def read_card(out: Path) -> dict[str, Any]:
    try:
        data = json.loads((out / CARD).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainError(f"{out / CARD} cannot be read ({exc}); train the model again.") from exc
    return data if isinstance(data, dict) else {}


def _metric_rows(dev: Mapping[str, Mapping[str, float]]) -> list[str]:
    names = sorted({name for figures in dev.values() for name in figures})
    rows = ["| metric | " + " | ".join(dev) + " |", "|---|" + "---|" * len(dev)]
    for name in names:
        rows.append(f"| {name} | " + " | ".join(str(figures.get(name, "")) for figures in dev.values()) + " |")
    return rows


def render_readme(card: Mapping[str, Any]) -> str:
    data, train, base = card.get("data", {}), card.get("training", {}), card.get("base_model", {})
    mix = card.get("interpolation")
    kind = (f"WiSE-FT interpolation: {mix['alpha']:g} x the tuned model + {1 - mix['alpha']:g} x the base model"
            if mix else "Fine-tuned with MultipleNegativesRankingLoss (sentence-transformers' trainer)")
    lines = [
        f"# {card.get('name', 'passage-search model')}",
        "",
        f"{kind}, from `{base.get('name')}` (fingerprint `{base.get('fingerprint')}`), for `passage-search`.",
        "Load it with `passage_search.embed.factory.make_embedder(PATH)` (torch or onnx); nothing is downloaded.",
        "",
        "## Data",
        "",
        "- MedQuAD question -> answer pairs (Ben Abacha & Demner-Fushman, BMC Bioinformatics 20:511, 2019; CC BY 4.0;"
        " U.S. NIH patient information), answers formatted as our index embeds passages, with one BM25 hard negative.",
        "- MEDIQA 2019 RQE entailed question <-> FAQ pairs (Ben Abacha & Demner-Fushman, AMIA 2016) as paraphrases.",
        "- Never trained on: the cancer.gov evaluation corpus or any question set of the project's tests.",
        f"- Examples fingerprint (sha256): `{data.get('fingerprint')}`",
        f"- Source files (sha256): {', '.join(f'`{k}` {v[:16]}' for k, v in data.get('sources', {}).items())}",
        f"- Counts: {', '.join(f'{k} {v}' for k, v in data.get('counts', {}).items())}",
        "",
        "## Training",
        "",
        f"- Command: `{card.get('command') or '(library call)'}`",
        "- " + ", ".join(f"{k} {v}" for k, v in train.items() if not isinstance(v, dict | list)),
        f"- Libraries: {', '.join(f'{k} {v}' for k, v in card.get('versions', {}).items())}",
        "",
        "## Dev figures (not the project's evaluation sets)",
        "",
        *_metric_rows(card.get("dev", {})),
        "",
        "RQE accuracy is at the best threshold on the dev pairs themselves; MedQuAD MRR@10 ranks held-out",
        "questions (foci never trained on) among every held-out answer. Full details: training.json.",
        "",
    ]
    return "\n".join(lines)
