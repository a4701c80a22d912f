"""Approximate vector indexes: valid rankings, the auto policy, recall against flat, and the manifest."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, FakeEmbedder, edit_manifest

from passage_search.app.cli import main
from passage_search.bench.scale import clustered
from passage_search.errors import IndexMismatchError
from passage_search.index import ann, build
from passage_search.index.build import build_index, staleness
from passage_search.index.manifest import read_manifest
from passage_search.index.store import load_index
from passage_search.index.topk import knn

DIM = 64


@pytest.fixture(scope="module")
def points() -> tuple[np.ndarray, np.ndarray]:
    """4,000 clustered corpus vectors and 50 queries from the same mixture."""
    return clustered(4000, centres=20, dimension=DIM), clustered(50, centres=20, dimension=DIM, stream=1)


@pytest.fixture(scope="module")
def indexes(points) -> dict[str, object]:
    corpus, _ = points
    return {kind: ann.build(corpus, ann.choose(len(corpus), kind)) for kind in ann.INDEX_TYPES}


def recall(found: list[list[tuple[int, float]]], truth: list[list[tuple[int, float]]]) -> float:
    hits = [len({r for r, _ in f} & {r for r, _ in t}) / len(t) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits))


@pytest.mark.parametrize("kind", ann.INDEX_TYPES)
def test_each_type_returns_valid_rankings(indexes, points, kind):
    corpus, queries = points
    for k in (1, 10, 150):  # 150 > HNSW's efSearch: knn must raise it for the call
        for ranking in knn(indexes[kind], queries, k):
            rows = [r for r, _ in ranking]
            scores = [s for _, s in ranking]
            assert len(rows) == k and len(set(rows)) == k
            assert all(0 <= r < len(corpus) for r in rows)
            assert scores == sorted(scores, reverse=True)


def test_scores_are_inner_products(indexes, points):
    corpus, queries = points
    for kind, index in indexes.items():
        for q, ranking in zip(queries, knn(index, queries, 10), strict=True):
            rows = [r for r, _ in ranking]
            np.testing.assert_allclose([s for _, s in ranking], corpus[rows] @ q, atol=1e-4, err_msg=kind)


def test_ivf_padding_is_dropped(points):
    corpus, queries = points
    index = ann.build(corpus, ann.IndexSpec("ivf", {"nlist": 64, "nprobe": 1}))
    found = knn(index, queries, 1000)  # one probed list holds far fewer than 1000 vectors: FAISS pads with -1
    assert all(0 < len(r) < 1000 for r in found)
    assert all(row >= 0 for r in found for row, _ in r)


def test_hnsw_k_above_ef_search_leaves_the_index_unchanged(indexes, points):
    index = indexes["hnsw"]
    before = index.hnsw.efSearch
    assert len(knn(index, points[1][:2], before + 50)[0]) == before + 50
    assert index.hnsw.efSearch == before


def test_auto_is_flat_for_small_corpora_then_hnsw_then_ivf():
    assert ann.choose(0).kind == "flat"
    assert ann.choose(3000).kind == "flat"
    assert ann.choose(ann.FLAT_MAX).kind == "flat"
    middle = ann.choose(ann.FLAT_MAX + 1)
    assert middle.kind == "hnsw" and middle.params["efConstruction"] >= 200
    assert ann.choose(ann.HNSW_MAX).kind == "hnsw"
    big = ann.choose(ann.HNSW_MAX + 1)
    assert big.kind == "ivf" and big.params["nlist"] == ann.ivf_lists(ann.HNSW_MAX + 1)
    assert ann.choose(ann.FLAT_MAX + 1, "hnsw").params["efSearch"] >= 100  # the hybrid searcher's candidates
    assert ann.choose(1_000_000, "flat").kind == "flat"
    ivf = ann.choose(1_000_000, "ivf")
    assert ivf.params["nlist"] == 4000 and 0 < ivf.params["nprobe"] <= 4000
    assert ann.choose(100, "ivf").params["nlist"] == 2  # at least 39 training points a list
    with pytest.raises(ValueError):
        ann.choose(10, "annoy")


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_recall_against_flat_is_high(indexes, points, kind):
    _, queries = points
    for k in (10, 100):
        assert recall(knn(indexes[kind], queries, k), knn(indexes["flat"], queries, k)) >= 0.95, k


@pytest.mark.parametrize(("kind", "param"), [("hnsw", "efSearch"), ("ivf", "nprobe")])
def test_manifest_round_trip_restores_type_and_search_parameters(tiny_corpus, tmp_path, kind, param):
    out = tmp_path / "index"
    build_index(tiny_corpus, out, embedder=FakeEmbedder(), index_type=kind)
    manifest = read_manifest(out)
    assert manifest.index_type == kind and manifest.index_params == ann.choose(manifest.passage_count, kind).params
    # Whatever FAISS kept in the file, the manifest's value is what the loaded index searches with.
    edit_manifest(
        out,
        index_params={**manifest.index_params, param: 7},
        heading_index_params={**manifest.heading_index_params, param: 5},
    )
    loaded = load_index(out)
    owner = loaded.vectors.hnsw if kind == "hnsw" else loaded.vectors
    assert getattr(owner, param) == 7
    # The heading index follows the same choice, with its own recorded parameters.
    assert loaded.headings.ntotal == loaded.heading_count and ann.kind_of(loaded.headings) == kind
    assert getattr(loaded.headings.hnsw if kind == "hnsw" else loaded.headings, param) == 5
    assert staleness(tiny_corpus, out, index_type=kind) is None
    assert staleness(tiny_corpus, out, index_type="flat") is not None


def test_a_vector_file_of_another_type_is_refused(tiny_corpus, tmp_path):
    out = tmp_path / "index"
    build_index(tiny_corpus, out, embedder=FakeEmbedder(), index_type="hnsw")
    edit_manifest(out, index_type="flat")
    with pytest.raises(IndexMismatchError, match="hnsw vector index but its manifest says flat"):
        load_index(out)


def test_index_type_flag_reaches_the_manifest(monkeypatch, tiny_corpus, tmp_path):
    real = build.build_index  # the CLI imports it when it runs: give every build the fake model
    monkeypatch.setattr(build, "build_index", lambda *a, **kw: real(*a, **{**kw, "embedder": FakeEmbedder()}))
    out = tmp_path / "idx"
    assert main(["build", "--corpus", str(tiny_corpus), "--out", str(out), "-q", "--index-type", "ivf"]) == 0
    assert read_manifest(out).index_type == "ivf"
    assert main(["build", "--corpus", str(tiny_corpus), "--out", str(out), "-q"]) == 0  # auto: a tiny corpus is flat
    assert read_manifest(out).index_type == "flat"
    with pytest.raises(SystemExit):
        main(["build", "--corpus", str(tiny_corpus), "--out", str(out), "--index-type", "annoy"])


def test_bench_scale_quick_runs_and_writes_json(tmp_path):
    out = tmp_path / "scale.json"
    proc = subprocess.run(
        [sys.executable, "-m", "passage_search.bench.scale", "--quick", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert "clustered" in report["data"]
    for n in ("2000", "10000"):
        assert set(report["results"][n]) == {"flat", "hnsw", "ivf"}
        assert report["results"][n]["flat"]["recall@10"] == 1.0
    assert "p95" in proc.stdout and "recall@10" in proc.stdout



def test_auto_sizes_the_heading_index_by_heading_count_and_reuses_its_vectors(monkeypatch, tmp_path):
    # 40 documents, each with its own heading path: 40 passages and 40 heading paths.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(40):
        (corpus / f"doc{i}.md").write_text(f"# Topic {i}\n\n## Care {i}\n\nPassage {i} about care plan {i}.\n")
    monkeypatch.setattr(ann, "FLAT_MAX", 20)
    out = tmp_path / "index"
    build_index(corpus, out, embedder=FakeEmbedder())
    manifest = read_manifest(out)
    assert (manifest.index_type, manifest.heading_index_type) == ("hnsw", "hnsw")
    loaded = load_index(out)
    assert ann.kind_of(loaded.headings) == "hnsw" and loaded.headings.hnsw.efSearch == ann.HNSW_EF_SEARCH
    # An approximate heading index keeps its vectors as a plain array too, so the next build embeds nothing.
    (corpus / "doc0.md").write_text("# Topic 0\n\n## Care 0\n\nPassage 0 about care plan 0, changed.\n")
    seen: list[str] = []

    class Counting(FakeEmbedder):
        def embed(self, texts, **kw):
            seen.extend(texts)
            return super().embed(texts, **kw)

    result = build_index(corpus, out, embedder=Counting())
    assert result.embedded == 1 and result.reused == 39
    assert len(seen) == 1 and "changed" in seen[0]  # no heading path was embedded again
