"""Exporting a model folder to ONNX once, and the verified cache of exported files on disk.

The network (transformer, mean pooling, L2 normalisation) is exported with ``torch.onnx.export`` at first
use and kept under ``$XDG_CACHE_HOME/passage-search/onnx/`` (else ``~/.cache/...``), one folder per model
fingerprint and variant.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from passage_search.errors import ModelError

# Part of every cache folder's name: bump it when the exported graph or the quantisation changes.
EXPORT_VERSION = 2
MODEL_FILE = "model.onnx"
META_FILE = "meta.json"
OUTPUT = "sentence_embedding"
OPSET = 17


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "passage-search" / "onnx"


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
