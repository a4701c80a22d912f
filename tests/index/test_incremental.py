"""Incremental rebuilds: the previous index is the embedding cache, so only new texts meet the model."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

from passage_search.app.cli import main
from passage_search.index.build import BuildResult, build_index
from passage_search.index.calibration import probes
from passage_search.index.store import heading_paths, load_index
from passage_search.passage import embedding_text
from passage_search.search.searcher import Searcher

QUESTIONS = ["limb sparing surgery", "nausea in the morning", "radiation before surgery", "appetite"]


class CountingEmbedder(FakeEmbedder):
    """The fake model, recording every text it is asked to embed."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seen: list[str] = []  # passage and heading texts
        self.probes_embedded = 0  # calls that embedded the calibration probes (counted apart)

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        questions = probes()[0]
        if len(texts) == len(questions) and all(t.endswith(q) for t, q in zip(texts, questions, strict=True)):
            self.probes_embedded += 1
        else:
            self.seen.extend(texts)
        return super().embed(texts, batch_size=batch_size, progress=progress)


def build(corpus: Path, out: Path, **kwargs) -> tuple[BuildResult, CountingEmbedder]:
    emb = CountingEmbedder(fingerprint=kwargs.pop("fingerprint", None))
    return build_index(corpus, out, embedder=emb, **kwargs), emb


def texts_of(index: Path, doc_id: str | None = None) -> set[str]:
    """The passage and heading texts the model saw for the index (or for one of its documents)."""
    passages = [p for p in load_index(index).passages if doc_id is None or p.doc_id == doc_id]
    return {embedding_text(p) for p in passages} | set(heading_paths(passages))


def results(index: Path) -> list[list[tuple[str, float]]]:
    searcher = Searcher(index, embedder=FakeEmbedder())
    return [[(h.passage.id, round(h.score, 6)) for h in searcher.search(q, k=10)] for q in QUESTIONS]


def stored(index: Path) -> tuple[np.ndarray, np.ndarray]:
    """(passage vectors, heading vectors) of the current generation, as written."""
    loaded = load_index(index)
    return np.load(loaded.path / "vectors.npy"), loaded.headings.reconstruct_n(0, loaded.headings.ntotal)


def assert_same_as_a_fresh_build(corpus: Path, index: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    build(corpus, fresh)
    assert load_index(index).passages == load_index(fresh).passages
    assert load_index(index).manifest.calibration == load_index(fresh).manifest.calibration
    for cached, full in zip(stored(index), stored(fresh), strict=True):
        assert cached.dtype == full.dtype == np.float32
        assert np.array_equal(cached, full)  # bit for bit, not just close
    assert np.array_equal(load_index(index).vectors.reconstruct_n(0, 3), load_index(fresh).vectors.reconstruct_n(0, 3))


@pytest.fixture
def index(tiny_corpus: Path, tmp_path: Path) -> Path:
    out = tmp_path / "index"
    result, emb = build(tiny_corpus, out)
    assert result.embedded == result.passages and result.reused == 0
    assert not result.up_to_date
    assert set(emb.seen) == texts_of(out) and len(emb.seen) == len(texts_of(out))
    return out


def test_an_unchanged_corpus_embeds_nothing_and_keeps_the_index(tiny_corpus, index):
    before, generation = results(index), (index / "current").resolve()
    result, emb = build(tiny_corpus, index)
    assert emb.seen == []
    assert (result.embedded, result.reused, result.up_to_date) == (0, result.passages, True)
    assert result.passages == len(load_index(index).passages) and result.documents == 2
    assert (index / "current").resolve() == generation == result.path
    assert results(index) == before


def test_a_rebuild_for_a_new_setting_reuses_every_vector(tiny_corpus, index, tmp_path):
    # The BM25 weight of headings changes the index but not one text the model sees.
    before = stored(index)
    result, emb = build(tiny_corpus, index, heading_weight=2)
    assert emb.seen == []
    assert (result.embedded, result.reused, result.up_to_date) == (0, result.passages, False)
    for cached, full in zip(stored(index), before, strict=True):
        assert np.array_equal(cached, full)


def test_a_skipped_file_added_rebuilds_with_identical_results(tiny_corpus, index):
    before = results(index)
    (tiny_corpus / "slides.pptx").write_bytes(b"PK")  # changes the corpus fingerprint, not the passages
    result, emb = build(tiny_corpus, index)
    assert emb.seen == [] and not result.up_to_date and result.embedded == 0
    assert result.skipped == [("slides.pptx", "unsupported file type")]
    assert results(index) == before


def test_editing_one_section_embeds_only_that_passage(tiny_corpus, index, tmp_path):
    diet = tiny_corpus / "diet.md"
    diet.write_text(diet.read_text("utf-8").replace("Ginger tea", "Peppermint tea"), "utf-8")
    result, emb = build(tiny_corpus, index)
    changed = [p for p in load_index(index).passages if "Peppermint" in p.text]
    assert len(changed) == 1
    assert emb.seen == [embedding_text(changed[0])]
    assert (result.embedded, result.reused) == (1, result.passages - 1)
    assert_same_as_a_fresh_build(tiny_corpus, index, tmp_path)


def test_rewriting_one_document_embeds_only_its_passages(tiny_corpus, index, tmp_path):
    (tiny_corpus / "diet.md").write_text(
        "# Eating well during treatment\n\nProtein shakes help.\n\n## Drinks\n\nWater and broth keep you hydrated.\n",
        "utf-8",
    )
    result, emb = build(tiny_corpus, index)
    diet = texts_of(index, "diet.md")
    assert set(emb.seen) <= diet and set(emb.seen)
    assert not set(emb.seen) & texts_of(index, "sarcoma.txt")
    assert result.embedded == sum(1 for p in load_index(index).passages if p.doc_id == "diet.md")
    assert_same_as_a_fresh_build(tiny_corpus, index, tmp_path)


def test_adding_a_document_embeds_only_its_passages(tiny_corpus, index, tmp_path):
    (tiny_corpus / "walking.md").write_text("# Walking\n\nA short walk each day eases tiredness.\n", "utf-8")
    result, emb = build(tiny_corpus, index)
    new = texts_of(index, "walking.md")
    assert set(emb.seen) == new and len(emb.seen) == len(new)
    assert (result.embedded, result.documents) == (1, 3)
    assert_same_as_a_fresh_build(tiny_corpus, index, tmp_path)


def test_removing_a_document_embeds_nothing(tiny_corpus, index, tmp_path):
    (tiny_corpus / "diet.md").unlink()
    result, emb = build(tiny_corpus, index)
    assert emb.seen == [] and result.embedded == 0 and result.documents == 1
    assert {p.doc_id for p in load_index(index).passages} == {"sarcoma.txt"}
    assert_same_as_a_fresh_build(tiny_corpus, index, tmp_path)


def test_the_calibration_probes_are_embedded_once_per_model_and_query_prefix(tiny_corpus, index, tmp_path):
    first, emb = build(tiny_corpus, tmp_path / "fresh")
    assert emb.probes_embedded == 1 and load_index(first.path).manifest.calibration["count"] == len(probes()[0])
    (tiny_corpus / "diet.md").write_text("# Eating well\n\nSmall meals help with nausea in the evening.\n", "utf-8")
    edited, emb = build(tiny_corpus, index)
    assert emb.probes_embedded == 0 and edited.embedded >= 1
    before, after = load_index(first.path).manifest.calibration, load_index(edited.path).manifest.calibration
    assert before["probes"] == after["probes"] and before["mean"] != after["mean"], "recalibrated on the new text"
    _result, emb = build(tiny_corpus, index, query_prefix="query: ")
    assert emb.probes_embedded == 1


def test_another_model_re_embeds_everything(tiny_corpus, index):
    result, emb = build(tiny_corpus, index, fingerprint="another-model")
    assert (result.embedded, result.reused) == (result.passages, 0)
    assert set(emb.seen) == texts_of(index)
    assert load_index(index).manifest.model.fingerprint == "another-model"


def test_another_passage_prefix_re_embeds_everything(tiny_corpus, index):
    result, emb = build(tiny_corpus, index, passage_prefix="passage: ")
    assert (result.embedded, result.reused) == (result.passages, 0)
    assert all(t.startswith("passage: ") for t in emb.seen)


def test_force_re_embeds_everything(tiny_corpus, index):
    result, emb = build(tiny_corpus, index, force=True)
    assert (result.embedded, result.reused, result.up_to_date) == (result.passages, 0, False)
    assert set(emb.seen) == texts_of(index)


def _garble(path: Path) -> None:
    path.write_bytes(b"not what it should be" * 20)


def _denormalise(path: Path) -> None:
    np.save(path, np.load(path) * 3.0)


def _drop_a_passage(path: Path) -> None:
    lines = path.read_text("utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[1:]), "utf-8")


def _bad_dimension(path: Path) -> None:
    data = json.loads(path.read_text("utf-8"))
    data["model"]["dimension"] = 32
    path.write_text(json.dumps(data), "utf-8")


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("manifest.json", _garble),
        ("manifest.json", _bad_dimension),
        ("vectors.npy", _garble),
        ("vectors.npy", _denormalise),
        ("vectors.npy", Path.unlink),
        ("passages.jsonl", _drop_a_passage),
        ("passages.jsonl", _garble),
        ("headings.faiss", _garble),
        ("headings.jsonl", Path.unlink),
    ],
)
def test_a_damaged_index_is_rebuilt_without_error(tiny_corpus, index, tmp_path, name, damage):
    damage((index / "current").resolve() / name)
    (tiny_corpus / "scan.pdf").write_bytes(b"%PDF")  # the corpus changed too: the damaged cache is read
    result, _emb = build(tiny_corpus, index)
    assert not result.up_to_date
    assert result.embedded + result.reused == result.passages
    assert_same_as_a_fresh_build(tiny_corpus, index, tmp_path)


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("vectors.faiss", _garble),
        ("passages.jsonl", _drop_a_passage),
        ("vectors.npy", _garble),
        ("lexical", shutil.rmtree),
    ],
)
def test_a_damaged_index_is_never_up_to_date(tiny_corpus, index, tmp_path, name, damage):
    damage((index / "current").resolve() / name)
    result, _emb = build(tiny_corpus, index)
    assert not result.up_to_date
    assert_same_as_a_fresh_build(tiny_corpus, index, tmp_path)


def test_a_damaged_vector_index_is_repaired_from_the_plain_vectors(tiny_corpus, index, tmp_path):
    _garble((index / "current").resolve() / "vectors.faiss")
    result, emb = build(tiny_corpus, index)
    assert emb.seen == [] and result.embedded == 0 and not result.up_to_date
    assert_same_as_a_fresh_build(tiny_corpus, index, tmp_path)


def test_an_index_without_plain_vectors_reuses_its_flat_faiss_vectors(tiny_corpus, index, tmp_path):
    # Indexes written before vectors.npy existed hold the same vectors in a flat FAISS file.
    (index / "current").resolve().joinpath("vectors.npy").unlink()
    (tiny_corpus / "scan.pdf").write_bytes(b"%PDF")
    result, emb = build(tiny_corpus, index)
    assert emb.seen == [] and result.embedded == 0
    assert_same_as_a_fresh_build(tiny_corpus, index, tmp_path)


def test_an_approximate_index_is_reused_through_its_plain_vectors(tiny_corpus, tmp_path):
    out = tmp_path / "hnsw"
    build(tiny_corpus, out, index_type="hnsw")
    assert load_index(out).manifest.index_type == "hnsw"
    (tiny_corpus / "walking.md").write_text("# Walking\n\nA short walk each day eases tiredness.\n", "utf-8")
    result, emb = build(tiny_corpus, out, index_type="hnsw")
    assert set(emb.seen) == texts_of(out, "walking.md") and result.embedded == 1


def test_a_copied_index_is_up_to_date_and_a_new_folder_embeds_everything(tiny_corpus, index, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(index, copy, symlinks=True)
    result, emb = build(tiny_corpus, copy)
    assert result.up_to_date and emb.seen == []
    result, emb = build(tiny_corpus, tmp_path / "elsewhere")
    assert result.embedded == result.passages


# ---- the command line ----------------------------------------------------------------------------------


@pytest.fixture
def counting_model(monkeypatch) -> list[CountingEmbedder]:
    made: list[CountingEmbedder] = []

    def make(model=None, **_kwargs):
        made.append(CountingEmbedder(name=model or "fake-hash"))
        return made[-1]

    monkeypatch.setattr("passage_search.index.build.make_embedder", make)
    monkeypatch.setattr("passage_search.embed.factory.make_embedder", make)
    return made


def test_cli_reports_embedded_and_reused_passages_and_force(counting_model, tiny_corpus, tmp_path, capsys):
    args = ["build", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "idx"), "-q"]
    assert main(args) == 0
    first = capsys.readouterr().out
    n = len(load_index(tmp_path / "idx").passages)
    assert re.match(rf"Indexed 2 documents into {n} passages in \d+\.\d s, {n} embedded and 0 reused", first)

    assert main(args) == 0
    again = capsys.readouterr().out
    assert "up to date" in again and f"{n} passages, 0 embedded and {n} reused from the previous index" in again
    assert counting_model[-1].seen == []

    assert main([*args, "--force"]) == 0
    forced = capsys.readouterr().out
    assert f"{n} embedded and 0 reused" in forced
    assert set(counting_model[-1].seen) == texts_of(tmp_path / "idx")
