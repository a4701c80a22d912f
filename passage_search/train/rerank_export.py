"""The trained cross-encoder as ONNX files in its own folder: fp32, and int8 with dynamic quantisation.

The graph is (input_ids, attention_mask, token_type_ids) -> one relevance logit per pair. It is exported
with the TorchScript exporter and fused by ONNX Runtime's BERT optimizer, as the embedding model is
(``embed.onnx_export``); the int8 file quantises the MatMul weights per output channel the same way.
``reranker.json`` tells ``passage_search.rerank`` which file to run and with what window.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from passage_search.embed.onnx_export import OPSET, _fuse, _quiet, _strip_debug_info
from passage_search.train import TrainError

FP32_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
CONFIG_FILE = "reranker.json"  # what the query-time loader reads; written last by the trainer
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "logits"


def export_reranker(folder: Path) -> tuple[Path, Path]:
    """Write ``model.onnx`` and ``model_int8.onnx`` next to the folder's transformers weights."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification

    transformers.logging.disable_progress_bar()

    class Logit(torch.nn.Module):
        def __init__(self, network: torch.nn.Module) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            out = self.network(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.logits[:, 0]

    try:
        network = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True,
                                                                     attn_implementation="eager")
    except Exception as exc:  # any failure inside the model stack means the same thing here
        raise TrainError(f"The reranker at {folder} could not be loaded for export ({exc}).") from exc
    module = Logit(network).eval()
    example = tuple(torch.ones(2, 16, dtype=torch.long) for _ in INPUTS)
    axes: dict[str, Any] = {name: {0: "batch", 1: "seq"} for name in INPUTS}
    axes[OUTPUT] = {0: "batch"}
    fp32, int8 = folder / FP32_FILE, folder / INT8_FILE
    raw = folder / f".{FP32_FILE}.{os.getpid()}.raw"
    try:
        with torch.no_grad(), _quiet():
            torch.onnx.export(module, example, str(raw), input_names=list(INPUTS), output_names=[OUTPUT],
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        _fuse(raw, fp32, network.config)
    finally:
        raw.unlink(missing_ok=True)
    _strip_debug_info(fp32)
    quantize_int8(fp32, int8)
    return fp32, int8


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation, one scale per output channel, of every weight: the MatMuls, the fused
    attention and the word embeddings (EmbedLayerNormalization, Gather). With the MatMuls alone (as for the
    embedding model) the file keeps 59 MB of float attention and embedding weights; with all of them it is 23 MB."""
    with _quiet():
        from onnx import TensorProto
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(source), str(target), per_channel=True, weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Attention", "EmbedLayerNormalization", "Gather"],
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )


def write_config(folder: Path, *, onnx_file: str, max_length: int, extra: dict[str, Any] | None = None) -> None:
    """``reranker.json``: the ONNX file to run and the pair window (question + passage word pieces)."""
    config = {"format": 1, "kind": "cross-encoder", "onnx": onnx_file, "max_length": max_length,
              "inputs": list(INPUTS), "output": OUTPUT, **(extra or {})}
    tmp = folder / f".{CONFIG_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    os.replace(tmp, folder / CONFIG_FILE)
