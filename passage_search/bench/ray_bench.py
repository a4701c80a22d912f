"""Ray against local: the same corpus built both ways in one process, passages/s end to end for each."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from passage_search.bench.common import ratio

# Documents the Ray part builds unless --docs says otherwise: enough for the actor pool's start to be a
# part of the time, not all of it.
RAY_DOCS = 300


def run_ray(corpus: Path, workdir: Path, *, backend: str | None) -> dict[str, Any]:
    """A full local build, then a full Ray build (starting a local Ray on every CPU) of ``corpus``."""
    import numpy as np

    from passage_search.backends.ray_engine import SHARDS, RayEngine
    from passage_search.embed.factory import make_embedder
    from passage_search.index.build import build_index
    from passage_search.index.store import load_index

    local_out, ray_out = workdir / "index-local", workdir / "index-ray"
    start = time.perf_counter()
    local = build_index(corpus, local_out, embedder=make_embedder(backend=backend), force=True)
    local_s = time.perf_counter() - start

    # A fresh embedder, so neither build inherits the other's loaded model.
    emb = make_embedder(backend=backend)
    start = time.perf_counter()
    with RayEngine(ray_out / SHARDS) as engine:
        done = build_index(corpus, ray_out, embedder=emb, engine=engine, force=True)
        workers = engine.workers_used
        connect_s = engine.session.seconds
    ray_s = time.perf_counter() - start  # the Ray's shutdown included: a user waits for it too

    a, b = load_index(local_out), load_index(ray_out)
    difference = float(np.abs(np.asarray(a.vector_array) - np.asarray(b.vector_array)).max())
    local_pps, ray_pps = local.passages / local_s, done.passages / ray_s
    return {
        "documents": local.documents,
        "passages": local.passages,
        "backend": a.manifest.model.backend,
        "workers": workers,
        "local": {"seconds": round(local_s, 2), "passages_per_s": round(local_pps, 1)},
        "ray": {"seconds": round(ray_s, 2), "passages_per_s": round(ray_pps, 1), "start_s": round(connect_s, 2),
                "passages_per_s_after_start": round(done.passages / max(1e-9, ray_s - connect_s), 1)},
        "ratio_ray_to_local": ratio(ray_pps, local_pps),
        "same_passages": [p.id for p in a.passages] == [p.id for p in b.passages],
        "max_vector_difference": difference,
    }


def print_ray(r: dict[str, Any]) -> None:
    print(f"\nRAY  {r['documents']} documents -> {r['passages']} passages, backend {r['backend']}, "
          f"{r['workers']} workers on a local Ray")
    loc, ray = r["local"], r["ray"]
    print(f"  local {loc['passages_per_s']:8.1f} passages/s end to end ({loc['seconds']} s)")
    print(f"  ray   {ray['passages_per_s']:8.1f} passages/s end to end ({ray['seconds']} s, of which starting Ray "
          f"{ray['start_s']} s; {ray['passages_per_s_after_start']} passages/s after it)")
    print(f"  ray / local {r['ratio_ray_to_local']}x")
    print(f"  same passages: {r['same_passages']}, largest vector difference {r['max_vector_difference']:.2e}")
