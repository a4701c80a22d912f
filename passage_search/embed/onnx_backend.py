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

import contextlib
import hashlib
import io
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from passage_search.embed.embedder import (
    batch_piece_counter,
    default_threads,
    load_tokenizer,
    model_fingerprint,
    piece_counter,
    pooling_config,
    read_dimension,
    read_max_tokens,
    resolve_model,
)
from passage_search.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime

# Part of every cache folder's name: bump it when the exported graph or the quantisation changes.
EXPORT_VERSION = 2
MODEL_FILE = "model.onnx"
META_FILE = "meta.json"
OUTPUT = "sentence_embedding"
OPSET = 17
# Build-time sessions: two threads embedded faster than one on our 2 cores (README, "Embedding backends").
BUILD_THREADS = 2


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "passage-search" / "onnx"


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
        positions = _read_config(self.path).get("max_position_embeddings", 512)
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


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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


# ---- the cache on disk ----------------------------------------------------------------------------------------


def cached_model(model_path: Path, folder: Path, fp32_folder: Path, variant: str) -> tuple[bytes, bool]:
    """The verified bytes of the variant's ONNX file, exported (or quantised) first if missing or damaged.

    Returns:
        the file's bytes, and whether it had to be written now.
    """
    data = _read_verified(folder)
    if data is not None:
        return data, False
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{os.getpid()}.{threading.get_ident()}.tmp.onnx"
    try:
        if variant == "int8":
            source, _ = cached_model(model_path, fp32_folder, fp32_folder, "fp32")
            src = folder / f".{os.getpid()}.{threading.get_ident()}.source.tmp.onnx"
            try:
                src.write_bytes(source)
                quantize_int8(src, tmp)
            finally:
                src.unlink(missing_ok=True)
        else:
            export_onnx(model_path, tmp)
        data = tmp.read_bytes()
        # Written whole under a temporary name, then renamed: a reader sees the old file or the new one.
        os.replace(tmp, folder / MODEL_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    meta = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "variant": variant,
        "export_version": EXPORT_VERSION,
        "model": str(model_path),
        "versions": _versions(),
    }
    meta_tmp = folder / f".{META_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
    meta_tmp.write_text(json.dumps(meta, indent=2), "utf-8")
    os.replace(meta_tmp, folder / META_FILE)
    return data, True


def _read_verified(folder: Path) -> bytes | None:
    """The cached file if its size and hash match its meta.json (a damaged or partial file gives None)."""
    try:
        meta = json.loads((folder / META_FILE).read_text("utf-8"))
        data = (folder / MODEL_FILE).read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("size") != len(data):
        return None
    return data if meta.get("sha256") == hashlib.sha256(data).hexdigest() else None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "onnx", "onnxscript", "onnxruntime"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def export_onnx(model_path: Path, target: Path) -> None:
    """Export the transformer with mean pooling and L2 normalisation: (input_ids, attention_mask) -> vectors."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Imported here: only an export needs torch and transformers; a cached file needs neither.
    import torch
    import transformers
    from transformers import AutoModel

    transformers.logging.disable_progress_bar()

    class Pooled(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    try:
        # Eager attention: a plain graph that ONNX Runtime fuses itself; SDPA adds nothing on the CPU here.
        encoder = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager")
    except Exception as exc:  # any failure inside the model stack means the same thing to a user
        raise ModelError(f"The model at {model_path} could not be loaded for export ({exc}).") from exc
    module = Pooled(encoder).eval()
    example = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long))
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, OUTPUT: {0: "batch"}}
    raw = target.with_name(target.name + ".raw")
    # The TorchScript exporter, not dynamo: its graph has the BERT patterns ONNX Runtime's optimizer fuses
    # (attention, skip layer norm, embedding layer norm), which built 20 passages/s against 16 for the dynamo
    # graph, and it exports in about 2 s instead of 16-130 s (measured here, 2 threads).
    try:
        with torch.no_grad(), _quiet():
            torch.onnx.export(
                module,
                example,
                str(raw),
                input_names=["input_ids", "attention_mask"],
                output_names=[OUTPUT],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        _fuse(raw, target, encoder.config)
    finally:
        raw.unlink(missing_ok=True)
    _strip_debug_info(target)


def _fuse(source: Path, target: Path, config: Any) -> None:
    """ONNX Runtime's transformer optimizer: fused attention and layer norms for a BERT-like encoder."""
    with _quiet():
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
        )
        optimized.save_model_to_file(str(target))


def _strip_debug_info(target: Path) -> None:
    """Drop the exporter's per-node notes (stack traces with file paths and line numbers, scope names).

    They differ with the install path and with any edit to this file, so without them the same model,
    torch and onnx versions export the same bytes; ONNX Runtime never reads them.
    """
    import onnx

    model = onnx.load(str(target))
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    onnx.save(model, str(target))


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the MatMul weights, one scale per output channel.

    One scale per tensor lost too much (mean cosine to fp32 0.946); per channel on the MatMuls alone, with
    the fused attention left in float, kept 0.995 (min 0.990) on 192 MedQuAD passages.
    """
    with _quiet():
        from onnx import TensorProto
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(source),
            str(target),
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            weight_type=QuantType.QInt8,
            # Fused operators (Attention, SkipLayerNormalization) have no shape inference rules here.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No warnings, log records below ERROR or stdout chatter from the exporter and the quantiser."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)
            # onnxruntime.quantization calls logging.basicConfig when imported; left in place, that root
            # handler prints bm25s's DEBUG records on every later build.
            root.handlers[:] = handlers
            root.setLevel(level)
