"""What proving an index costs at load: the same load with and without the checks, in one process.

The checks are every file's sha256 against the manifest (integrity.verify) and the passages' fingerprint
(ids recomputed from content, passage.passages_fingerprint). The baseline is the same ``load_index`` with
both replaced by no-ops, alternated with the real one so a busy machine slows both alike.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any
from unittest import mock

from passage_search.bench.common import ratio


def run_integrity(index: Path, *, runs: int = 5) -> dict[str, Any]:
    from passage_search.index import integrity, store
    from passage_search.index.manifest import read_manifest, resolve
    from passage_search.passage import passages_fingerprint

    gen, manifest = resolve(index), read_manifest(index)
    checked: list[float] = []
    unchecked: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        loaded = store.load_index(index)
        checked.append(time.perf_counter() - start)
        with (
            mock.patch.object(integrity, "verify", lambda *_a: None),
            mock.patch.object(store, "passages_fingerprint", lambda _p: manifest.passages_fingerprint),
        ):
            start = time.perf_counter()
            store.load_index(index)
            unchecked.append(time.perf_counter() - start)
    hashes, prints = [], []
    for _ in range(runs):
        start = time.perf_counter()
        integrity.verify(index, gen, manifest)
        hashes.append(time.perf_counter() - start)
        start = time.perf_counter()
        passages_fingerprint(loaded.passages)
        prints.append(time.perf_counter() - start)
    size = sum((gen / name).stat().st_size for name in manifest.checksums)
    with_checks, without = statistics.median(checked), statistics.median(unchecked)
    return {
        "index": str(index),
        "passages": manifest.passage_count,
        "files": len(manifest.checksums),
        "megabytes": round(size / 1e6, 1),
        "runs": runs,
        "load_s": round(with_checks, 3),
        "load_without_checks_s": round(without, 3),
        "checks_cost_s": round(with_checks - without, 3),
        "checksums_s": round(statistics.median(hashes), 3),
        "fingerprint_s": round(statistics.median(prints), 3),
        "ratio_load": ratio(with_checks, without),
    }


def print_integrity(r: dict[str, Any]) -> None:
    print(f"\nINTEGRITY  {r['passages']} passages, {r['files']} files, {r['megabytes']} MB, median of {r['runs']}")
    print(f"  load with the checks {r['load_s']} s, without {r['load_without_checks_s']} s "
          f"(ratio {r['ratio_load']}x): the checks cost {r['checks_cost_s']} s")
    print(f"  every file's sha256 {r['checksums_s']} s, the passages' fingerprint {r['fingerprint_s']} s")
