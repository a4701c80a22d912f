"""Ray builds: the same index as a local build (manifest, passages, vectors, results), incrementally too."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import conftest
import numpy as np
import pytest
from conftest import CORPUS, SEED_QUESTIONS, FakeEmbedder

from passage_search.app.cli import main
from passage_search.backends.ray_cluster import start_local_ray
from passage_search.backends.ray_engine import SHARDS, RayEngine, build_with_ray, read_shards
from passage_search.errors import DistributedError, ModelError
from passage_search.index.build import BuildResult, build_index
from passage_search.index.manifest import resolve
from passage_search.index.store import load_index
from passage_search.passage import text_hash
from passage_search.search.searcher import Searcher

QUESTIONS = ["limb sparing surgery", "nausea in the morning", "radiation before surgery", "appetite", "care plan 7"]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A Ray on two CPUs for the module: the engine uses it and leaves it running."""
    import ray

    # Short: Ray's socket paths under the session folder must stay within 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="ps-ray-test-"))
    # The token variables set for this Ray (by start_local_ray and ray.init) go when it goes.
    saved = {name: os.environ.get(name) for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    start_local_ray(num_cpus=2, temp_dir=temp)
    # FakeEmbedder lives in conftest, which workers cannot import: its code travels with the pickle.
    ray.cloudpickle.register_pickle_by_value(conftest)
    yield
    ray.cloudpickle.unregister_pickle_by_value(conftest)
    ray.shutdown()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(temp, ignore_errors=True)


def ray_build(corpus: Path, out: Path, **options) -> tuple[BuildResult, RayEngine]:
    """A Ray build with the fake model on two workers, and the engine (to count what it embedded)."""
    with RayEngine(out / SHARDS, workers=2, factory=FakeEmbedder) as engine:
        return build_index(corpus, out, embedder=FakeEmbedder(), engine=engine, **options), engine


def results(index: Path, embedder=None) -> list[list[tuple[str, float]]]:
    searcher = Searcher(index, embedder=embedder or FakeEmbedder())
    return [[(h.passage.id, round(h.score, 5)) for h in searcher.search(q, k=10)] for q in QUESTIONS]


def assert_same_index(ray_index: Path, local_index: Path, *, exact: bool = True) -> None:
    """Same manifest but its time stamp, same passages and heading paths, same vectors and FAISS index."""
    ray_gen, local_gen = resolve(ray_index), resolve(local_index)
    manifests = [json.loads((gen / "manifest.json").read_text("utf-8")) for gen in (ray_gen, local_gen)]
    for m in manifests:
        m.pop("created")
        m.pop("digest")  # covers "created"
        if not exact:  # vectors equal to 1e-5, so their files' checksums differ; every other file's must not
            m["checksums"] = {f: h for f, h in m["checksums"].items() if not f.endswith((".npy", ".faiss"))}
    assert manifests[0] == manifests[1]
    for name in ("passages.jsonl", "headings.jsonl"):
        assert (ray_gen / name).read_bytes() == (local_gen / name).read_bytes()
    for name in ("vectors.npy", "headings.npy"):
        got, want = np.load(ray_gen / name), np.load(local_gen / name)
        if exact:  # the fake model's vectors do not depend on batching: bit for bit
            assert np.array_equal(got, want), name
        else:
            np.testing.assert_allclose(got, want, atol=1e-5, err_msg=name)
    if exact:
        for name in ("vectors.faiss", "headings.faiss"):
            assert (ray_gen / name).read_bytes() == (local_gen / name).read_bytes(), name
    assert not (ray_index / SHARDS).exists()


def test_a_ray_build_writes_the_index_a_local_build_writes(local_ray, tiny_corpus, tmp_path):
    ray_result = build_with_ray(tiny_corpus, tmp_path / "ray", embedder=FakeEmbedder(), factory=FakeEmbedder)
    local_result = build_index(tiny_corpus, tmp_path / "local", embedder=FakeEmbedder())
    assert (ray_result.passages, ray_result.embedded, ray_result.reused) == (local_result.passages,) * 2 + (0,)
    assert_same_index(tmp_path / "ray", tmp_path / "local")
    assert results(tmp_path / "ray") == results(tmp_path / "local")


def test_an_incremental_ray_build_embeds_only_the_changed_passage(local_ray, tiny_corpus, tmp_path):
    index = tmp_path / "index"
    first, engine = ray_build(tiny_corpus, index)
    texts = {p.text for p in load_index(index).passages}
    assert engine.rows_embedded == first.passages + len(load_index(index).heading_rows) and engine.runs == 1

    unchanged, engine = ray_build(tiny_corpus, index)
    assert unchanged.up_to_date and engine.runs == 0  # nothing to embed: Ray is not even asked

    diet = tiny_corpus / "diet.md"
    diet.write_text(diet.read_text("utf-8").replace("Ginger tea", "Peppermint tea"), "utf-8")
    edited, engine = ray_build(tiny_corpus, index)
    assert (edited.embedded, edited.reused) == (1, edited.passages - 1)
    assert engine.rows_embedded == 1  # the workers saw the one new passage, no heading path
    assert [p.text for p in load_index(index).passages if p.text not in texts] == [
        "Peppermint tea and dry crackers may ease nausea in the morning."
    ]
    build_index(tiny_corpus, tmp_path / "fresh", embedder=FakeEmbedder())
    assert_same_index(index, tmp_path / "fresh")


def test_an_ivf_ray_build_equals_the_local_one(local_ray, tmp_path):
    # 320 passages and 320 heading paths: IVF with 8 lists for both, trained on FAISS's seeded sample.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    words = "pain fatigue nausea surgery radiation diet sleep exercise fever rash".split()
    for i in range(320):
        body = " ".join(words[(i * k) % len(words)] for k in range(1, 6))
        (corpus / f"doc{i}.md").write_text(f"# Topic {i}\n\n## Care plan {i % 37}\n\nPassage {i} about {body}.\n")
    ray_build(corpus, tmp_path / "ray", index_type="ivf")
    build_index(corpus, tmp_path / "local", embedder=FakeEmbedder(), index_type="ivf")
    manifest = load_index(tmp_path / "ray").manifest
    assert (manifest.index_type, manifest.heading_index_type, manifest.index_params["nlist"]) == ("ivf", "ivf", 8)
    assert_same_index(tmp_path / "ray", tmp_path / "local")
    assert results(tmp_path / "ray") == results(tmp_path / "local")


def test_a_worker_with_another_model_is_refused(local_ray, tiny_corpus, tmp_path):
    other = functools.partial(FakeEmbedder, fingerprint="another-model")
    with pytest.raises(ModelError, match="install the same model on every node"):
        build_with_ray(tiny_corpus, tmp_path / "index", embedder=FakeEmbedder(), factory=other, workers=1)
    assert not (tmp_path / "index" / "current").exists()


def test_a_shard_of_other_texts_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = ["alpha", "beta"]
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(np.ones(4, dtype=np.float32)), 2)
    good = pa.table({"row": [0, 1], "key": [text_hash(t) for t in texts], "vector": vectors})
    pq.write_table(good, tmp_path / "a.parquet")
    assert read_shards(tmp_path, texts).shape == (2, 2)
    with pytest.raises(DistributedError, match="2 of 3 vectors"):
        read_shards(tmp_path, texts + ["gamma"])
    pq.write_table(good.set_column(1, "key", pa.array([text_hash("beta"), text_hash("alpha")])), tmp_path / "a.parquet")
    with pytest.raises(DistributedError, match="other texts"):
        read_shards(tmp_path, texts)


def test_a_local_ray_gets_a_private_token_not_a_file_in_home(monkeypatch, tmp_path):
    from passage_search.backends import ray_cluster

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    ray_cluster._private_token()
    token = os.environ["RAY_AUTH_TOKEN"]
    assert len(token) == 64 and "RAY_AUTH_MODE" not in os.environ  # ray.init turns token mode on itself
    ray_cluster._private_token()
    assert os.environ["RAY_AUTH_TOKEN"] == token  # one token a process
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray_cluster._private_token()
    assert "RAY_AUTH_TOKEN" not in os.environ  # the user's choice stands
    assert list(tmp_path.iterdir()) == []


def test_engine_ray_without_ray_is_one_sentence(monkeypatch, capsys, tiny_corpus, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: import ray raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    code = main(["build", "--engine", "ray", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "index"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "pip install 'passage-search[distributed]'" in err
    assert not (tmp_path / "index").exists()


def test_ray_flags_without_engine_ray_are_one_sentence(capsys, tiny_corpus, tmp_path):
    code = main(["build", "--workers", "2", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "index")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "--engine ray" in err


@pytest.mark.model
def test_a_real_model_ray_build_from_the_cli_gives_the_local_results(local_ray, real_index, real_embedder, tmp_path):
    out = tmp_path / "index"
    assert main(["build", "--engine", "ray", "--workers", "2", "--corpus", str(CORPUS), "--out", str(out), "-q"]) == 0
    assert_same_index(out, real_index, exact=False)
    questions = [json.loads(line)["question"] for line in SEED_QUESTIONS.read_text("utf-8").splitlines() if line]
    ray_searcher, local_searcher = Searcher(out, embedder=real_embedder), Searcher(real_index, embedder=real_embedder)
    for q in questions:
        got, want = ray_searcher.search(q, k=5), local_searcher.search(q, k=5)
        assert [h.passage.id for h in got] == [h.passage.id for h in want], q
        np.testing.assert_allclose([h.score for h in got], [h.score for h in want], atol=1e-4)
