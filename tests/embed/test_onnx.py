"""The ONNX Runtime backend with the real packaged model: export, identity, the cache, order, backends."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, REPO, SEED_QUESTIONS

from passage_search.embed import onnx_export as onnx_embedder
from passage_search.embed.factory import make_embedder, resolve_backend
from passage_search.embed.onnx_backend import OnnxEmbedder
from passage_search.embed.onnx_export import META_FILE, MODEL_FILE
from passage_search.embed.torch_backend import SentenceTransformerEmbedder
from passage_search.errors import IndexMismatchError, ModelError
from passage_search.index.build import build_index
from passage_search.index.store import load_index
from passage_search.ingest.readers import read_corpus
from passage_search.search.searcher import Searcher

pytestmark = pytest.mark.model


def _no_network(*_args, **_kwargs):
    raise OSError("network access during an ONNX export")


@pytest.fixture(scope="session")
def xdg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private $XDG_CACHE_HOME: the export is made once per session, never in the user's cache."""
    return tmp_path_factory.mktemp("xdg")


@pytest.fixture(scope="session")
def cache(xdg: Path) -> Path:
    return xdg / "passage-search" / "onnx"


@pytest.fixture(scope="session")
def fp32(cache: Path) -> OnnxEmbedder:
    embedder = OnnxEmbedder(cache_dir=cache, threads=1)
    with pytest.MonkeyPatch.context() as mp:  # the export reads the local folder only
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        embedder.session
    return embedder


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    """Real text: the seed questions and the bundled corpus's sections, long ones included."""
    questions = [json.loads(line)["question"] for line in SEED_QUESTIONS.read_text("utf-8").splitlines() if line]
    sections = [s.text for s in read_corpus(CORPUS).sections]
    return questions + sections + ["a", "Chemo?"]


def test_export_works_offline_and_is_cached_with_its_hash(fp32: OnnxEmbedder):
    assert fp32.exported
    meta = json.loads((fp32.folder / META_FILE).read_text("utf-8"))
    assert meta["size"] == (fp32.folder / MODEL_FILE).stat().st_size
    assert meta["variant"] == "fp32" and len(meta["sha256"]) == 64
    assert not [p for p in fp32.folder.iterdir() if p.name.endswith(".tmp.onnx")]


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def test_fp32_gives_the_torch_vectors_and_keeps_the_fingerprint(fp32, torch_embedder, sentences):
    assert fp32.fingerprint == torch_embedder.fingerprint
    assert (fp32.dimension, fp32.max_tokens) == (torch_embedder.dimension, torch_embedder.max_tokens) == (384, 256)
    ours, theirs = fp32.embed(sentences), torch_embedder.embed(sentences)
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    assert float(np.min(np.sum(ours * theirs, axis=1))) >= 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_token_counts_are_the_tokenizers_untruncated_ones(fp32, torch_embedder, sentences):
    from passage_search.embed.model_folder import token_counter as _token_counter

    reference = _token_counter(torch_embedder.model.tokenizer)
    long_text = " ".join(sentences)
    assert reference(long_text) > 256  # past tokenizer.json's own truncation at 128
    for text in [*sentences, long_text]:
        assert fp32.count_tokens(text) == torch_embedder.count_tokens(text) == reference(text)


def test_int8_has_its_own_fingerprint_and_close_vectors(fp32, cache, sentences):
    int8 = OnnxEmbedder(cache_dir=cache, quantized=True, threads=1)
    assert int8.fingerprint == fp32.fingerprint + "-int8" and int8.backend == "onnx-int8"
    assert int8.folder != fp32.folder
    vectors = int8.embed(sentences[:20])
    cosine = np.sum(vectors * fp32.embed(sentences[:20]), axis=1)
    assert int8.exported and not np.allclose(cosine, 1.0, atol=1e-4)
    assert float(cosine.mean()) >= 0.98


def test_second_construction_reuses_the_cached_file(fp32, cache, sentences, monkeypatch):
    monkeypatch.setattr(onnx_embedder, "export_onnx", lambda *_: pytest.fail("exported again"))
    again = OnnxEmbedder(cache_dir=cache, threads=1)
    assert np.array_equal(again.embed(sentences[:5]), fp32.embed(sentences[:5]))
    assert not again.exported


@pytest.mark.parametrize("damage", ["truncate", "flip", "no-meta"])
def test_a_damaged_cache_is_exported_again(fp32, tmp_path, sentences, monkeypatch, damage):
    good = (fp32.folder / MODEL_FILE).read_bytes()
    calls = []

    def export(_model: Path, target: Path) -> None:  # stands in for the 20-second export
        calls.append(target)
        target.write_bytes(good)

    monkeypatch.setattr(onnx_embedder, "export_onnx", export)
    folder = tmp_path / fp32.folder.name
    shutil.copytree(fp32.folder, folder)
    model = folder / MODEL_FILE
    if damage == "truncate":
        model.write_bytes(good[: len(good) // 2])
    elif damage == "flip":
        model.write_bytes(good[:1000] + bytes([good[1000] ^ 0xFF]) + good[1001:])
    else:
        (folder / META_FILE).unlink()
    embedder = OnnxEmbedder(cache_dir=tmp_path, threads=1)
    assert np.array_equal(embedder.embed(sentences[:3]), fp32.embed(sentences[:3]))
    assert embedder.exported and len(calls) == 1
    assert model.read_bytes() == good


def test_length_sorting_keeps_the_input_order(fp32, cache, sentences):
    rng = np.random.default_rng(7)
    texts = [sentences[i] for i in rng.permutation(len(sentences))]
    one_by_one = np.vstack([fp32.embed([t]) for t in texts])  # no padding at all
    unsorted = OnnxEmbedder(cache_dir=cache, threads=1, sort_by_length=False)
    for vectors in (fp32.embed(texts, batch_size=4), unsorted.embed(texts, batch_size=4)):
        assert np.allclose(vectors, one_by_one, atol=1e-5)


def test_empty_input_gives_an_empty_matrix_without_a_session(cache):
    embedder = OnnxEmbedder(cache_dir=cache / "never-made")
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32
    assert not (cache / "never-made").exists()


def test_backends_from_the_factory_and_the_environment(monkeypatch):
    monkeypatch.delenv("PASSAGE_SEARCH_BACKEND", raising=False)
    assert isinstance(make_embedder(backend="torch"), SentenceTransformerEmbedder)
    assert isinstance(make_embedder(), OnnxEmbedder)
    assert make_embedder(backend="onnx-int8").fingerprint.endswith("-int8")
    assert resolve_backend(None, recorded="onnx-int8") == "onnx-int8"
    assert resolve_backend(None, recorded="torch") == "onnx"  # same vectors: the faster one
    assert resolve_backend(None, recorded="onnx") == "onnx"
    assert resolve_backend(None) == "onnx"  # the default for a new index
    monkeypatch.setenv("PASSAGE_SEARCH_BACKEND", "torch")
    assert isinstance(make_embedder(), SentenceTransformerEmbedder)
    monkeypatch.setenv("PASSAGE_SEARCH_BACKEND", "tensorflow")
    with pytest.raises(ModelError, match="Unknown embedding backend"):
        make_embedder()


def test_an_int8_index_refuses_fp32_questions_and_records_its_backend(fp32, cache, tmp_path):
    out = tmp_path / "index"
    build_index(CORPUS, out, embedder=fp32)
    assert load_index(out).manifest.model.backend == "onnx"
    int8 = OnnxEmbedder(cache_dir=cache, quantized=True)
    with pytest.raises(IndexMismatchError, match="--backend onnx"):
        Searcher(out, embedder=int8)
    hits = Searcher(out, embedder=fp32).search("limb-sparing surgery", k=1)
    assert hits[0].passage.heading_path[-1] == "Surgery for soft tissue sarcoma"


def test_metadata_and_cached_onnx_need_no_torch(fp32, xdg):
    code = (
        "import sys\n"
        "from passage_search.embed.factory import make_embedder\n"
        "from passage_search.embed.torch_backend import SentenceTransformerEmbedder\n"
        "st = SentenceTransformerEmbedder()\n"
        "print(st.dimension, st.max_tokens, st.count_tokens('will they have to take my leg off?'))\n"
        "print(make_embedder(backend='onnx', threads=1).embed(['chemo side effects']).shape)\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(xdg)}
    env.pop("PASSAGE_SEARCH_BACKEND", None)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["384 256 9", "(1, 384)", "False False"]
