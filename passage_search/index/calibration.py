"""How close an unanswerable question gets to this corpus: the scale the search's confidence is read on.

A cosine similarity means different things on different corpora: on a one-page corpus an off-topic
question's best passage scores about 0.15, on 16,000 pages about 0.35, because some passage is always a
little close. So every build searches a fixed list of calibration probes (``data/probes.txt``: questions
no patient-information page answers, written blind, never an evaluation set) and records the mean and
spread of their best cosine. The search reads a question's similarity as ``z = (cosine - mean) / sd``,
which the thresholds in ``search/confidence.py`` are set on (docs/ranking.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from passage_search.analysis import DATA_DIR
from passage_search.embed.base import Embedder

PROBES = DATA_DIR / "probes.txt"
PROBE_ARRAY = "probes.npy"  # the probes' vectors in an index generation, for the next build to reuse
# A spread below this is treated as this: a corpus of one or two passages gives every probe nearly the
# same best score, and dividing by almost nothing would make every question look certain.
MIN_SD = 0.02


@dataclass(frozen=True)
class Calibration:
    """The probes' best cosine on one index: its mean and standard deviation, and which probes."""

    mean: float
    sd: float
    probes: str  # sha256 (16 hex digits) of the probe file
    count: int

    def z(self, cosine: float) -> float:
        """How many probe standard deviations ``cosine`` lies above the probes' mean."""
        return (cosine - self.mean) / max(self.sd, MIN_SD)

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "sd": self.sd, "probes": self.probes, "count": self.count}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration | None:
        """The calibration a manifest records, or None if it records none (an index built before it)."""
        try:
            return cls(float(data["mean"]), float(data["sd"]), str(data["probes"]), int(data["count"]))
        except (KeyError, TypeError, ValueError):
            return None


@lru_cache(maxsize=1)
def probes(path: Path = PROBES) -> tuple[tuple[str, ...], str]:
    """The probe questions and the digest that names them."""
    raw = path.read_bytes()
    lines = tuple(line.strip() for line in raw.decode("utf-8").splitlines() if line.strip())
    return lines, hashlib.sha256(raw).hexdigest()[:16]


def probe_digest() -> str:
    return probes()[1]


def probe_vectors(embedder: Embedder, query_prefix: str = "", previous: Path | None = None) -> np.ndarray:
    """The probes embedded as questions; read from ``previous`` (a ``PROBE_ARRAY`` file) when it holds them.

    The caller passes ``previous`` only for an index built with the same model, probes and query prefix,
    so a rebuild after a one-document edit embeds no probe again.
    """
    questions = probes()[0]
    if previous is not None:
        try:
            cached = np.load(previous, allow_pickle=False)
            if cached.dtype == np.float32 and cached.shape == (len(questions), embedder.dimension):
                return cached
        except (OSError, ValueError):  # missing or damaged: embed again
            pass
    return np.asarray(embedder.embed([query_prefix + q for q in questions], batch_size=64), dtype=np.float32)


def calibrate(embedded: np.ndarray, vectors: np.ndarray) -> Calibration:
    """Search every probe (``embedded``) against ``vectors`` (the passages' rows) exactly; their statistics.

    Exact inner products, not the ANN index: 300 probes against 30,000 passages is one small matrix
    product, and the statistics should not depend on the index type.
    """
    questions, digest = probes()
    best = np.full(len(questions), -1.0, dtype=np.float32)
    for start in range(0, len(vectors), 8192):  # bounded memory on large corpora
        block = np.asarray(vectors[start : start + 8192], dtype=np.float32)
        if len(block):
            best = np.maximum(best, (embedded @ block.T).max(axis=1))
    return Calibration(float(best.mean()), float(best.std()), digest, len(questions))
