"""Which kind of section a question asks for, from the shipped intent classifier (train/intent.py).

The classifier reads the same question vector the dense retriever uses, so it only applies to the model it
was trained with (its fingerprint is in intent.json); with another model it is left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from passage_search.analysis import DATA_DIR

INTENT_ARRAYS = "intent.npz"  # written by train/intent.py
INTENT_CARD = "intent.json"


def section_kind(heading: str) -> str:
    """The section type a heading names ("Adult ALL — Treatment" -> "treatment"); "" when it names none."""
    head, sep, kind = heading.rpartition(" — ")
    return kind.strip().lower() if sep and head else ""


@dataclass(frozen=True)
class IntentModel:
    weights: np.ndarray  # (types, dimension)
    bias: np.ndarray  # (types,)
    kinds: tuple[str, ...]
    model_fingerprint: str

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Per question (row of ``vectors``), the probability of each type in ``kinds`` (softmax)."""
        logits = np.asarray(vectors, dtype=np.float32) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def kind_of(self, heading: str) -> int:
        """The index in ``kinds`` of the section type a heading path names, -1 if none."""
        name = section_kind(heading)
        return self.kinds.index(name) if name in self.kinds else -1


def load_intent(folder: Path = DATA_DIR) -> IntentModel | None:
    """The classifier in ``folder``, or None when there is none (or it cannot be read)."""
    try:
        card = json.loads((folder / INTENT_CARD).read_text("utf-8"))
        with np.load(folder / INTENT_ARRAYS, allow_pickle=False) as arrays:
            weights, bias, kinds = arrays["weights"], arrays["bias"], tuple(str(k) for k in arrays["classes"])
        fingerprint = str(card["model"]["fingerprint"])
    except (OSError, KeyError, ValueError, TypeError):
        return None
    if weights.ndim != 2 or weights.shape[0] != len(kinds) or bias.shape != (len(kinds),):
        return None
    return IntentModel(weights.astype(np.float32), bias.astype(np.float32), kinds, fingerprint)
