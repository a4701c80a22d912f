"""The index folder: build -> load round trip, and every kind of damage or mismatch refused clearly."""

from __future__ import annotations

import calendar
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

import passage_search
from passage_search.errors import CorpusError, IndexMismatchError, IndexNotFoundError
from passage_search.index.build import build_index, corpus_fingerprint, staleness
from passage_search.index.manifest import FORMAT_VERSION, read_manifest
from passage_search.index.store import load_index
from passage_search.ingest.readers import read_corpus
from passage_search.ingest.splitter import make_passages
from passage_search.passage import embedding_text
from passage_search.search.searcher import Searcher


def generation(index: Path) -> Path:
    return (index / "current").resolve()


def assert_one_sentence_naming_the_fix(message: str) -> None:
    assert "\n" not in message
    # One sentence: no sentence end followed by another capitalised sentence.
    assert not re.search(r"[.!?]\s+[A-Z]", message), message
    assert "python build_index.py" in message, message


def test_round_trip_keeps_passages_and_vectors(tiny_corpus, fake_index, fake_embedder):
    loaded = load_index(fake_index)
    emb = FakeEmbedder()
    want = make_passages(
        read_corpus(tiny_corpus).sections, count_tokens=emb.count_tokens, max_tokens=emb.max_tokens
    )
    assert loaded.passages == want
    assert {p.source for p in loaded.passages} == {"sarcoma.txt", "diet.md"}
    vectors = loaded.vectors.reconstruct_n(0, loaded.vectors.ntotal)
    np.testing.assert_allclose(vectors, emb.embed([embedding_text(p) for p in want]), atol=1e-6)


def test_manifest_records_model_counts_and_versions(tiny_corpus, fake_index):
    data = json.loads((generation(fake_index) / "manifest.json").read_text("utf-8"))
    assert data["format_version"] == FORMAT_VERSION
    assert data["model"]["name"] == "fake-hash"
    assert data["model"]["fingerprint"] == "fake-hash-64"
    assert data["model"]["dimension"] == 64
    assert data["passage_count"] == len(load_index(fake_index).passages)
    assert data["document_count"] == 2
    assert data["corpus_fingerprint"] == corpus_fingerprint(tiny_corpus)
    assert data["package_version"] == passage_search.__version__
    created = calendar.timegm(time.strptime(data["created"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(created - time.time()) < 600
    assert read_manifest(fake_index).passage_count == data["passage_count"]


def test_truncated_passages_file_is_refused(fake_index):
    path = generation(fake_index) / "passages.jsonl"
    lines = path.read_text("utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), "utf-8")
    with pytest.raises(IndexMismatchError) as info:
        load_index(fake_index)
    assert_one_sentence_naming_the_fix(str(info.value))
    with pytest.raises(IndexMismatchError):
        Searcher(fake_index, embedder=FakeEmbedder())


@pytest.mark.parametrize("damage", ["garbage", "half", "empty", "missing"])
def test_corrupt_vector_file_is_refused(fake_index, damage):
    path = generation(fake_index) / "vectors.faiss"
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a faiss index" * 50)
    elif damage == "half":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(IndexMismatchError) as info:
        Searcher(fake_index, embedder=FakeEmbedder())
    assert_one_sentence_naming_the_fix(str(info.value))


def test_manifest_from_a_future_format_is_refused(fake_index):
    path = generation(fake_index) / "manifest.json"
    data = json.loads(path.read_text("utf-8"))
    data["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(IndexMismatchError) as info:
        Searcher(fake_index, embedder=FakeEmbedder())
    message = str(info.value)
    assert_one_sentence_naming_the_fix(message)
    assert str(FORMAT_VERSION + 1) in message


def test_searcher_with_another_model_is_refused(fake_index):
    with pytest.raises(IndexMismatchError) as info:
        Searcher(fake_index, embedder=FakeEmbedder(fingerprint="another-model"))
    assert_one_sentence_naming_the_fix(str(info.value))
    assert "another-model" in str(info.value)


def test_searcher_with_another_dimension_is_refused(fake_index):
    same_fingerprint_other_size = FakeEmbedder(dimension=32, fingerprint="fake-hash-64")
    with pytest.raises(IndexMismatchError) as info:
        Searcher(fake_index, embedder=same_fingerprint_other_size)
    assert_one_sentence_naming_the_fix(str(info.value))
    assert "32" in str(info.value) and "64" in str(info.value)


@pytest.mark.parametrize("make", ["absent", "empty-folder", "dangling-current"])
def test_missing_index_raises_index_not_found(tmp_path, make):
    root = tmp_path / "index"
    if make != "absent":
        root.mkdir()
    if make == "dangling-current":
        (root / "current").symlink_to("gen-gone")
    with pytest.raises(IndexNotFoundError) as info:
        Searcher(root, embedder=FakeEmbedder())
    assert "python build_index.py" in str(info.value)


def test_rebuild_replaces_current_and_removes_the_old_generation(tiny_corpus, fake_index):
    old = generation(fake_index)
    (tiny_corpus / "extra.md").write_text("# Extra\n\nA new leaflet about walking.\n", "utf-8")
    build_index(tiny_corpus, fake_index, embedder=FakeEmbedder())
    new = generation(fake_index)
    assert new != old
    assert not old.exists()
    assert sorted(p.name for p in fake_index.glob("gen-*")) == [new.name]
    assert (fake_index / "current").is_symlink()
    assert any(p.source == "extra.md" for p in load_index(fake_index).passages)
    assert not list(fake_index.glob(".current*"))


def test_staleness_reports_changed_corpus_and_none_when_unchanged(tiny_corpus, fake_index, tmp_path):
    assert staleness(tiny_corpus, fake_index) is None
    assert staleness(tiny_corpus, fake_index, model_fingerprint="fake-hash-64") is None
    assert staleness(tiny_corpus, fake_index, model_fingerprint="other") is not None
    (tiny_corpus / "diet.md").write_text("# Eating well\n\nChanged text.\n", "utf-8")
    why = staleness(tiny_corpus, fake_index)
    assert why is not None and "changed" in why
    assert staleness(tiny_corpus, tmp_path / "no-index") is not None


def test_staleness_notices_a_changed_sidecar(tiny_corpus, fake_index):
    (tiny_corpus / "sarcoma.meta.json").write_text('{"title": "Renamed", "publisher": "Other"}', "utf-8")
    assert staleness(tiny_corpus, fake_index) is not None


def test_staleness_notices_a_file_moved_into_a_subfolder(tiny_corpus, fake_index):
    # The passages' doc_id is the file's path under the corpus, so moving a file changes the index.
    (tiny_corpus / "leaflets").mkdir()
    (tiny_corpus / "diet.md").rename(tiny_corpus / "leaflets" / "diet.md")
    assert staleness(tiny_corpus, fake_index) is not None


def test_building_an_empty_corpus_is_refused_with_the_formats_to_add(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(CorpusError) as info:
        build_index(tmp_path / "empty", tmp_path / "index", embedder=FakeEmbedder())
    assert ".txt" in str(info.value) and "notes.pdf" in str(info.value)
    assert not (tmp_path / "index" / "current").exists()


def test_an_index_from_an_older_format_is_refused_and_reported_stale(fake_index, tiny_corpus):
    from passage_search.index.build import staleness

    path = fake_index / "current" / "manifest.json"
    data = json.loads(path.read_text("utf-8"))
    data["format_version"] = FORMAT_VERSION - 1
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(IndexMismatchError, match="older"):
        read_manifest(fake_index)
    assert "older" in (staleness(tiny_corpus, fake_index) or "")
