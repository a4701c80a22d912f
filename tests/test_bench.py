"""The benchmark's smoke run: it must keep working (CI runs it; no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.model


def test_quick_benchmark_runs_and_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "passage_search.bench", "--quick", "--only", "build", "query",
         "--json", str(out), "--workdir", str(tmp_path / "work")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    build, query = report["build"], report["query"]
    assert build["passages"] > 0 and build["passages_per_s"] > 0 and build["baseline"]["passages_per_s"] > 0
    assert build["unchanged_rebuild"]["embedded"] == 0
    changed = build["one_document_changed"]
    assert 1 <= changed["embedded"] <= changed["document_passages"]
    for mode in ("hybrid", "dense", "lexical", "baseline"):
        figures = query[mode]["total_ms"]
        assert 0 < figures["p50"] <= figures["p95"] <= figures["p99"]
    assert set(query["hybrid"]["stages_ms"]) == {"analyze", "encode", "dense", "heading", "lexical", "fusion"}
    assert query["vector_recall_vs_exact"]["recall@10"] == 1.0  # flat at this size: exact
    assert "BUILD" in done.stdout and "QUERY" in done.stdout
