"""The passage and heading vector indexes: exact (flat) or approximate (HNSW, IVF), chosen by size.

Every type keeps the inner-product metric: vectors are L2-normalised, so inner product = cosine.
The type and its parameters are recorded in the manifest and set again after loading, because FAISS
does not keep every search parameter in the file the same way for every index type.

The thresholds and parameters come from ``python -m passage_search.bench.scale`` (synthetic vectors, 10k
to 1M) and from MedQuAD's real vectors and questions (docs/performance.md, "Vector index by size"): flat is exact and
needs no tuning, so it stays while a query over it is cheap; then HNSW, which on real vectors was both
the fastest and the most exact; above ``HNSW_MAX`` IVF, which holds recall@10 >= 0.95 at 1M in a build
time two cores allow, where HNSW fell to 0.85.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import faiss

INDEX_TYPES = ("flat", "hnsw", "ivf")
CHOICES = ("auto", *INDEX_TYPES)

# Flat (exact) while it is cheap: a few ms a question up to 10k vectors (figures: docs/performance.md).
FLAT_MAX = 10_000
# HNSW up to 100k: on MedQuAD's real vectors these settings kept recall@10 1.000 and recall@100 0.987 at
# 0.35 ms; at 1M its build is too slow for the recall it holds, so IVF takes over (docs/performance.md).
# efSearch >= k always (knn raises it to k).
HNSW_MAX = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128

# IVF: nlist ~ 4 sqrt(n) lists (each >= 39 training points, FAISS's minimum), k-means on at most 64 points
# a list for 10 rounds. Real vectors need more probes than synthetic ones to keep recall@100 high, so
# corpora up to IVF_WIDE_MAX probe 96 lists; above that 48 keeps 1M within 20 ms (docs/performance.md).
IVF_NPROBE = 48
IVF_NPROBE_WIDE = 96
IVF_WIDE_MAX = 200_000
IVF_TRAIN_POINTS_PER_LIST = 64
IVF_TRAIN_ITERATIONS = 10


@dataclass(frozen=True)
class IndexSpec:
    """An index type and its parameters, as recorded in the manifest."""

    kind: str = "flat"
    params: dict[str, int] = field(default_factory=dict)


def ivf_lists(n: int) -> int:
    """nlist for ``n`` vectors: ~4 sqrt(n), with at least 39 vectors per list to train on."""
    return max(1, min(int(4 * math.sqrt(max(n, 1))), n // 39))


def choose(n: int, kind: str = "auto") -> IndexSpec:
    """The index for ``n`` passages: ``kind``, or by size when ``kind`` is "auto".

    Raises:
        ValueError: ``kind`` is not one of CHOICES.
    """
    if kind not in CHOICES:
        raise ValueError(f"Unknown index type {kind!r}; choose one of {', '.join(CHOICES)}.")
    if kind == "auto":
        kind = "flat" if n <= FLAT_MAX else "hnsw" if n <= HNSW_MAX else "ivf"
    if kind == "hnsw":
        return IndexSpec("hnsw", {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH})
    if kind == "ivf":
        nlist = ivf_lists(n)
        nprobe = IVF_NPROBE_WIDE if n <= IVF_WIDE_MAX else IVF_NPROBE
        return IndexSpec("ivf", {"nlist": nlist, "nprobe": min(nprobe, nlist)})
    return IndexSpec("flat", {})


def empty(spec: IndexSpec, dimension: int) -> faiss.Index:
    """A new, untrained index of ``spec``'s type."""
    import faiss  # imported here: loading the FAISS library is not free and --help must stay instant

    p = spec.params
    if spec.kind == "flat":
        # Cosine similarity = inner product of L2-normalised vectors.
        return faiss.IndexFlatIP(dimension)
    if spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, int(p["M"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(p["efConstruction"])
        return configure(index, spec)
    if spec.kind == "ivf":
        quantizer = faiss.IndexFlatIP(dimension)
        ivf = faiss.IndexIVFFlat(quantizer, dimension, int(p["nlist"]), faiss.METRIC_INNER_PRODUCT)
        ivf.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
        ivf.cp.niter = IVF_TRAIN_ITERATIONS
        return configure(ivf, spec)  # FAISS's Python wrapper keeps the quantizer alive with the index
    raise ValueError(f"Unknown index type {spec.kind!r}; choose one of {', '.join(INDEX_TYPES)}.")


def build(vectors: np.ndarray, spec: IndexSpec, *, dimension: int | None = None) -> faiss.Index:
    """An index of ``spec``'s type holding ``vectors`` (row i = id i), trained first if it needs it.

    ``dimension`` gives the width of an empty index (and is checked against non-empty ``vectors``).
    """
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    if data.size == 0 and dimension is not None:
        data = data.reshape(0, dimension)
    if data.ndim != 2 or (dimension is not None and data.shape[1] != dimension):
        raise ValueError(f"vectors of shape {data.shape} do not fit dimension {dimension}")
    index = empty(spec, data.shape[1])
    if len(data):
        if not index.is_trained:
            index.train(data)
        index.add(data)
    return index


def configure(index: faiss.Index, spec: IndexSpec) -> faiss.Index:
    """Set the search parameters of ``spec`` on ``index`` (after ``faiss.read_index`` too)."""
    if spec.kind == "hnsw" and hasattr(index, "hnsw"):
        index.hnsw.efSearch = int(spec.params.get("efSearch", HNSW_EF_SEARCH))
    elif spec.kind == "ivf" and hasattr(index, "nprobe"):
        index.nprobe = int(spec.params.get("nprobe", IVF_NPROBE))
    return index


def kind_of(index: Any) -> str:
    """The type name (flat, hnsw, ivf) of a loaded FAISS index, to check it against the manifest."""
    if hasattr(index, "hnsw"):
        return "hnsw"
    if hasattr(index, "nprobe") and hasattr(index, "nlist"):
        return "ivf"
    return "flat"


def set_threads(threads: int) -> None:
    """FAISS's OpenMP threads for this process (1 for serving single questions; see bench_scale)."""
    import faiss

    faiss.omp_set_num_threads(max(1, int(threads)))
