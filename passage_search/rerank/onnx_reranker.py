"""The trained cross-encoder run by ONNX Runtime: (question, passage) pairs in one batch, one logit each.

Needs neither torch nor transformers: the folder's ``tokenizer.json`` (the Rust tokenizer) encodes the pairs
as sentence-transformers' CrossEncoder does ([CLS] question [SEP] passage [SEP], longest-first truncation to
the window in ``reranker.json``), and the ONNX file written at training time scores them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from passage_search.embed.base import default_threads
from passage_search.errors import ModelError, first_line
from passage_search.rerank.base import CONFIG_FILE, TOKENIZER_FILE

if TYPE_CHECKING:
    import onnxruntime

# Questions are answered one at a time; one thread leaves the other core to the next request (as for the
# question's embedding), two are faster for a single caller. Measured in docs/training.md ("Reranker").
QUERY_THREADS = 1


class OnnxReranker:
    """A folder written by ``passage-search train --reranker``.

    Args:
        folder: the model folder (``reranker.json``, ``tokenizer.json``, the ONNX file it names).
        onnx_file: run this file instead of the one ``reranker.json`` names (e.g. ``model.onnx``, fp32).
        max_length: the pair window in word pieces (default: ``reranker.json``'s).
        threads: ONNX Runtime intra-op threads (default: ``set_threads``'s ONNX count, else ``QUERY_THREADS``).
    """

    def __init__(self, folder: Path, *, onnx_file: str | None = None, max_length: int | None = None,
                 threads: int | None = None) -> None:
        self.folder = Path(folder)
        try:
            config = json.loads((self.folder / CONFIG_FILE).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"The reranker's {self.folder / CONFIG_FILE} cannot be read ({first_line(exc)}).") from exc
        file = self.folder / str(onnx_file or config.get("onnx", ""))
        if not file.is_file():
            raise ModelError(f"The reranker in {self.folder} is incomplete (no {file.name}); copy the whole folder "
                             "written by passage-search train --reranker.")
        self.file = file
        self.name = f"{self.folder.name}/{file.name}"
        self.max_length = int(max_length or config.get("max_length") or 256)
        self.fingerprint = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
        try:
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        except Exception as exc:  # the Rust tokenizer raises its own exception type for a damaged file
            raise ModelError(f"The reranker's tokenizer in {self.folder} cannot be read ({first_line(exc)}).") from exc
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_length, strategy="longest_first")
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        self._threads = threads
        self._session: onnxruntime.InferenceSession | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> onnxruntime.InferenceSession:
        with self._lock:
            if self._session is None:
                self._session = _open_session(self.file, self._threads or default_threads(onnx=True) or QUERY_THREADS)
            return self._session

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """One relevance logit per text for ``question``, in one batch."""
        return self.score_pairs([(question, text) for text in texts])

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(pairs))
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(pairs), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(pairs), width), dtype=np.int64)
        types = np.zeros((len(pairs), width), dtype=np.int64)
        for i, e in enumerate(encodings):
            n = len(e.ids)
            ids[i, :n], mask[i, :n], types[i, :n] = e.ids, 1, e.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        try:
            out = self.session.run(None, feed)[0]
        except Exception as exc:  # onnxruntime raises its own types for a bad graph or input
            raise ModelError(f"The reranker {self.name} failed to score ({first_line(exc)}).") from exc
        return np.asarray(out, dtype=np.float32).reshape(len(pairs))


def _open_session(file: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores: do not spin
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a damaged or foreign file
        raise ModelError(f"The reranker file {file} cannot be loaded by ONNX Runtime ({first_line(exc)}).") from exc
