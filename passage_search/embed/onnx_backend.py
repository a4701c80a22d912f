"""The ONNX Runtime backend: the sentence-transformers model exported once to ONNX, cached on disk.

The network (transformer, mean pooling, L2 normalisation) is exported with ``torch.onnx.export`` from the
local model folder at first use and kept under ``$XDG_CACHE_HOME/passage-search/onnx/`` (else
``~/.cache/...``), one folder per model fingerprint and variant. After that a process needs neither torch
nor transformers: ONNX Runtime runs the file and the model's own Rust tokenizer feeds it.

Variants: ``fp32`` gives the torch model's vectors to float error, so it keeps the model's fingerprint;
``int8`` quantises the MatMul weights per output channel, which changes the vectors, so its fingerprint
gets ``-int8`` and an index built with one cannot be searched with the other.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from passage_search.embed.base import default_threads
from passage_search.embed.model_folder import (
    batch_piece_counter,
    load_tokenizer,
    model_fingerprint,
    piece_counter,
    pooling_config,
    read_dimension,
    read_json,
    read_max_tokens,
    resolve_model,
)
from passage_search.embed.onnx_export import EXPORT_VERSION, OUTPUT, cache_root, cached_model
from passage_search.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime

# Build-time sessions: two threads embedded faster than one on our 2 cores (docs/performance.md).
BUILD_THREADS = 2


class OnnxEmbedder:
    """A local sentence-transformers folder (transformer + mean pooling) run by ONNX Runtime on the CPU.

    Args:
        model: a local model folder, or None for the packaged all-MiniLM-L6-v2.
        quantized: the int8 variant (faster, slightly different vectors, its own fingerprint).
        threads: ONNX Runtime intra-op threads; None: the count given to ``set_threads``, else
            ``BUILD_THREADS``. Questions are best encoded on one thread (see cli and the page).
        cache_dir: where exported files are kept (default: ``cache_root()``).
        sort_by_length: embed texts in batches of similar length (less padding); the order is restored.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        quantized: bool = False,
        threads: int | None = None,
        cache_dir: Path | None = None,
        sort_by_length: bool = True,
    ) -> None:
        self.name, self.path = resolve_model(model)
        self.variant = "int8" if quantized else "fp32"
        self.backend = "onnx-int8" if quantized else "onnx"
        base = model_fingerprint(self.path)
        self.fingerprint = f"{base}-int8" if quantized else base
        root = cache_dir or cache_root()
        self.folder = root / f"{base}-{self.variant}-v{EXPORT_VERSION}"
        self._fp32_folder = root / f"{base}-fp32-v{EXPORT_VERSION}"
        self.sort_by_length = sort_by_length
        self._threads = threads
        _check_supported(self.path)
        dimension = read_dimension(self.path)
        if dimension is None:
            raise ModelError(f"The model at {self.path} does not state its vector size; use --backend torch.")
        self.dimension = dimension
        # sentence-transformers' own fallback for a folder that states no window: the position table, at most 512.
        positions = read_json(self.path / "config.json").get("max_position_embeddings", 512)
        self.max_tokens = read_max_tokens(self.path) or min(int(positions), 512)
        tokenizer = load_tokenizer(self.path)
        if tokenizer is None:
            raise ModelError(f"The model at {self.path} has no tokenizer.json; use --backend torch.")
        self._count = piece_counter(tokenizer)
        self._count_many = batch_piece_counter(tokenizer)
        # A second copy that truncates to the model's window (with [CLS] and [SEP]), as sentence-transformers does.
        self._encoder = tokenizer.from_str(tokenizer.to_str())
        self._encoder.enable_truncation(self.max_tokens)
        self._pad_id = _pad_id(self.path, self._encoder)
        self._session: onnxruntime.InferenceSession | None = None
        self._lock = threading.Lock()
        self.exported = False  # whether this instance had to write its ONNX file (else it was cached)

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        return self._count_many(texts)

    @property
    def session(self) -> onnxruntime.InferenceSession:
        with self._lock:
            if self._session is None:
                data, self.exported = cached_model(self.path, self.folder, self._fp32_folder, self.variant)
                self._session = _open_session(data, self._threads or default_threads(onnx=True) or BUILD_THREADS)
            return self._session

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        session = self.session
        encodings = self._encoder.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        # Longest first, so each batch is padded only to its own longest text; rows go back in place below.
        order = np.argsort(-lengths, kind="stable") if self.sort_by_length else np.arange(len(texts))
        from tqdm import tqdm

        with tqdm(total=len(texts), disable=not progress, unit="passage") as bar:
            for start in range(0, len(texts), max(1, batch_size)):
                rows = order[start : start + max(1, batch_size)]
                width = int(lengths[rows].max())
                ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for i, row in enumerate(rows):
                    n = lengths[row]
                    ids[i, :n] = encodings[row].ids
                    mask[i, :n] = 1
                out[rows] = session.run([OUTPUT], {"input_ids": ids, "attention_mask": mask})[0]
                bar.update(len(rows))
        return out


def _check_supported(path: Path) -> None:
    pooling = pooling_config(path)
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True}
    if pooling and modes != {"pooling_mode_mean_tokens"}:
        raise ModelError(f"The ONNX backend supports mean pooling only; use --backend torch for {path}.")
    if read_dimension(path) is None:
        raise ModelError(
            f"The ONNX backend supports transformer + pooling models only; use --backend torch for {path}."
        )


def _pad_id(path: Path, tokenizer: Any) -> int:
    try:
        token = json.loads((path / "tokenizer_config.json").read_text("utf-8")).get("pad_token", "[PAD]")
    except (OSError, ValueError):
        token = "[PAD]"
    found = tokenizer.token_to_id(token if isinstance(token, str) else "[PAD]")
    return int(found) if found is not None else 0


def _open_session(data: bytes, threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    ort.disable_telemetry_events()  # the environment variable set in __init__ stops it at import already

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads spin for work by default: on two shared cores that only takes time from others.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
