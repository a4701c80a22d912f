"""What a reranker is, and where its model folder is found.

A reranker scores (question, passage text) pairs; a higher score is more relevant. Scores are raw logits,
comparable within one question only. The folder is the one ``passage-search train --reranker`` writes: an
ONNX file, ``tokenizer.json`` and ``reranker.json``. Without ``--reranker PATH`` the folder shipped inside
the package (``passage_search/models/reranker/``) is used, if it is there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from passage_search.errors import ModelError

CONFIG_FILE = "reranker.json"
TOKENIZER_FILE = "tokenizer.json"
PACKAGED = Path(__file__).resolve().parents[1] / "models" / "reranker"


class Reranker(Protocol):
    """Scores for (question, passage text) pairs, one float per pair, in order."""

    @property
    def name(self) -> str: ...

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray: ...


def reranker_folder(path: str | Path | None = None) -> Path:
    """The folder to load: ``path``, else the packaged one; refused in one sentence when missing or incomplete."""
    folder = Path(path).expanduser() if path is not None else PACKAGED
    where = f"--reranker {folder}" if path is not None else f"the packaged reranker folder {folder}"
    if not folder.is_dir():
        if path is None:
            raise ModelError(f"No reranker is installed at {folder}; pass --reranker PATH (a folder written by "
                             "passage-search train --reranker).")
        raise ModelError(f"The reranker folder {folder} does not exist; pass a folder written by "
                         "passage-search train --reranker.")
    missing = [name for name in (CONFIG_FILE, TOKENIZER_FILE) if not (folder / name).is_file()]
    if missing:
        raise ModelError(f"The reranker in {where} is incomplete (no {', '.join(missing)}); copy the whole folder "
                         "written by passage-search train --reranker.")
    return folder
