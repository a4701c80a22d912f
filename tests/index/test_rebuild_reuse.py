"""One read of the corpus, one definition of "up to date", and split results reused per unchanged document."""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder, edit_manifest, write_tree

from passage_search import __version__
from passage_search.index.build import BuildResult, build_index, corpus_fingerprint, staleness
from passage_search.index.manifest import resolve
from passage_search.index.store import load_index, plain_vectors
from passage_search.ingest.readers import META_SUFFIX, corpus_files
from passage_search.search.searcher import Searcher

QUESTIONS = ["limb sparing surgery", "nausea in the morning", "radiation before surgery", "iron in the blood"]
SENTENCE = "Patients with {topic} should ask their care team about {n} things before each visit."


def beir_line(doc_id: str, title: str, topic: str, sentences: int) -> str:
    text = " ".join(SENTENCE.format(topic=topic, n=n) for n in range(sentences))
    return json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n"


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    """One corpus.jsonl of eight documents, most long enough for several passages."""
    topics = ["anaemia", "sarcoma", "nausea", "radiation", "surgery", "fatigue", "appetite", "iron"]
    lines = [beir_line(f"d{i}", f"About {t}", t, 1 + 3 * i) for i, t in enumerate(topics)]
    path = tmp_path / "beir" / "corpus.jsonl"
    path.parent.mkdir()
    path.write_text("".join(lines), "utf-8")
    return path


def build(corpus: Path, out: Path, **kwargs) -> BuildResult:
    return build_index(corpus, out, embedder=FakeEmbedder(), **kwargs)


def generation_file(index: Path, name: str) -> bytes:
    return (resolve(index) / name).read_bytes()


def results(index: Path) -> list[list[tuple[str, float]]]:
    searcher = Searcher(index, embedder=FakeEmbedder())
    return [[(h.passage.id, round(h.score, 6)) for h in searcher.search(q, k=10)] for q in QUESTIONS]


def assert_same_as_a_forced_build(corpus: Path, index: Path, tmp_path: Path, *, vectors: bool = True) -> None:
    forced = tmp_path / "forced"
    build(corpus, forced, force=True)
    for name in ("passages.jsonl", "documents.jsonl", "headings.jsonl", *(["vectors.npy"] if vectors else [])):
        assert generation_file(index, name) == generation_file(forced, name), name
    if vectors:
        assert results(index) == results(forced)


def edit_line(path: Path, doc_id: str, extra: str) -> None:
    lines = path.read_text("utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record["_id"] == doc_id:
            record["text"] += extra
            lines[i] = json.dumps(record) + "\n"
    path.write_text("".join(lines), "utf-8")


# ---- split results reused per unchanged document ---------------------------------------------------------


def test_a_one_document_edit_resplits_that_document_only_and_equals_a_forced_build(beir, tmp_path):
    index = tmp_path / "index"
    first = build(beir, index)
    assert first.resplit == first.documents == 8
    assert "documents" in json.loads(generation_file(index, "manifest.json"))["files"]
    edit_line(beir, "d4", " This sentence was added to test incremental rebuilds.")
    again = build(beir, index)
    assert (again.resplit, again.documents, again.up_to_date) == (1, 8, False)
    assert_same_as_a_forced_build(beir, index, tmp_path)


def test_documents_record_every_documents_passage_rows(beir, tmp_path):
    index = tmp_path / "index"
    build(beir, index)
    passages = load_index(index).passages
    records = [json.loads(line) for line in generation_file(index, "documents.jsonl").decode().splitlines()]
    assert [r["id"] for r in records] == [f"d{i}" for i in range(8)]
    assert records[-1]["rows"][1] == len(passages)
    for r in records:
        start, stop = r["rows"]
        assert stop > start and {p.doc_id for p in passages[start:stop]} == {r["id"]}


def test_added_removed_and_moved_documents_give_a_forced_builds_passages(beir, tmp_path):
    index = tmp_path / "index"
    build(beir, index)
    lines = beir.read_text("utf-8").splitlines(keepends=True)
    # d2 removed, d6 moved to the front, a new document in the middle.
    lines = [lines[6], *lines[:2], beir_line("new", "About walking", "walking", 5), *lines[3:6], lines[7]]
    beir.write_text("".join(lines), "utf-8")
    again = build(beir, index)
    assert again.resplit == 1 and again.documents == 8
    assert_same_as_a_forced_build(beir, index, tmp_path)


def test_files_of_a_folder_corpus_are_documents_too(tiny_corpus, tmp_path):
    index = tmp_path / "index"
    build(tiny_corpus, index)
    diet = tiny_corpus / "diet.md"
    diet.write_text(diet.read_text("utf-8").replace("Ginger tea", "Peppermint tea"), "utf-8")
    assert build(tiny_corpus, index).resplit == 1
    assert_same_as_a_forced_build(tiny_corpus, index, tmp_path)
    # The sidecar is part of the sections (title, publisher), so of the key.
    (tiny_corpus / "sarcoma.meta.json").write_text('{"title": "Sarcoma", "publisher": "Other"}', "utf-8")
    assert build(tiny_corpus, index).resplit == 1
    assert_same_as_a_forced_build(tiny_corpus, index, tmp_path)


@pytest.mark.parametrize(
    "setting", [{"embed_headings": False}, {"passage_prefix": "passage: "}, {"overlap": 0}, {"fingerprint": "other"}]
)
def test_a_split_setting_or_another_model_resplits_every_document(beir, tmp_path, setting):
    index = tmp_path / "index"
    build(beir, index)
    emb = FakeEmbedder(fingerprint=setting.pop("fingerprint", None))
    result = build_index(beir, index, embedder=emb, **setting)
    assert result.resplit == 8


def test_a_setting_the_split_ignores_reuses_every_document(beir, tmp_path):
    index = tmp_path / "index"
    build(beir, index)
    result = build(beir, index, heading_weight=2)
    assert (result.resplit, result.up_to_date) == (0, False)


def test_an_index_without_documents_jsonl_reuses_no_split(beir, tmp_path):
    index = tmp_path / "index"
    build(beir, index)
    (resolve(index) / "documents.jsonl").unlink()
    edit_line(beir, "d4", " One more sentence.")
    assert build(beir, index).resplit == 8
    assert_same_as_a_forced_build(beir, index, tmp_path)


def _shift_rows(path: Path) -> None:
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    for r in records:
        r["rows"] = [r["rows"][0] + 1, r["rows"][1] + 1]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")


def _swap_texts(path: Path) -> None:
    """The same ids and rows, another text: the text shown must be what the document says."""
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    rows[-1]["text"], rows[-2]["text"] = rows[-2]["text"], rows[-1]["text"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("documents.jsonl", lambda p: p.write_bytes(b"{not json")),
        ("documents.jsonl", _shift_rows),
        ("passages.jsonl", _swap_texts),
        ("passages.jsonl", lambda p: p.write_text(p.read_text("utf-8").split("\n", 1)[1], "utf-8")),
    ],
)
def test_a_damaged_previous_split_is_never_reused_wrongly(beir, tmp_path, name, damage):
    index = tmp_path / "index"
    build(beir, index)
    damage(resolve(index) / name)
    edit_line(beir, "d0", " One more sentence.")
    build(beir, index)
    # Swapped texts poison the embedding cache (it trusts passages.jsonl's rows to match the vectors'), a
    # limit older than split reuse: only the passages are compared then.
    assert_same_as_a_forced_build(beir, index, tmp_path, vectors=damage is not _swap_texts)


def test_a_document_id_in_two_places_is_read_once_and_reported(beir, tmp_path):
    # A BEIR _id that is a file's path, read after the file and before it: never one merged document.
    (beir.parent / "guide.txt").write_text("Guide\n\nA file read before more.jsonl.\n", "utf-8")
    (beir.parent / "notes.md").write_text("# Notes\n\nA file read after more.jsonl.\n", "utf-8")
    lines = beir_line("guide.txt", "About sarcoma", "sarcoma", 4) + beir_line("notes.md", "Again", "sarcoma", 4)
    (beir.parent / "more.jsonl").write_text(lines, "utf-8")
    result = build(beir.parent, tmp_path / "index")
    reasons = dict(result.skipped)
    assert reasons["more.jsonl line 1"].startswith('duplicate _id ("guide.txt", first at guide.txt')
    assert reasons["notes.md"] == "its name is already the _id of a document (more.jsonl line 2); rename it"
    docs = {p.doc_id: p.text for p in load_index(tmp_path / "index").passages}
    assert "read before more.jsonl" in docs["guide.txt"] and "Again" not in docs["guide.txt"]
    assert "read after" not in docs["notes.md"]


# ---- one read of every file ------------------------------------------------------------------------------


def two_read_fingerprint(corpus: Path) -> str:
    """The fingerprint by its definition, every file read again: path and bytes of each file read (and of its
    sidecar), path and reason of each file skipped."""
    digest = hashlib.sha256()
    for path, reason in corpus_files(corpus):
        shown = path.relative_to(corpus).as_posix() if corpus.is_dir() else path.name
        if reason is not None:
            digest.update(f"{shown}\0skipped: {reason}\0".encode())
            continue
        for item in [path, path.with_name(path.name.rsplit(".", 1)[0] + META_SUFFIX)]:
            if item.is_file():
                rel = item.relative_to(corpus) if corpus.is_dir() else Path(item.name)
                digest.update(rel.as_posix().encode() + b"\0")
                digest.update(item.read_bytes())
    return digest.hexdigest()[:16]


def test_the_one_read_scan_gives_the_fingerprint_by_its_definition(tiny_corpus, beir):
    write_tree(tiny_corpus, {"sub/notes.md": "# Notes\n\nText.\n", "image.png": b"\x89PNG", "sub/a.b.txt": "Hi.\n"})
    (tiny_corpus / "sub" / "a.b.meta.json").write_text('{"title": "A"}', "utf-8")
    os.symlink(tiny_corpus / "diet.md", tiny_corpus / "link.md")
    for corpus in (tiny_corpus, beir):
        assert corpus_fingerprint(corpus) == two_read_fingerprint(corpus)
    before = corpus_fingerprint(tiny_corpus)
    (tiny_corpus / "image.png").write_bytes(b"\x89PNG other bytes")  # skipped: its bytes do not count
    assert corpus_fingerprint(tiny_corpus) == before
    (tiny_corpus / "sub" / "notes.md").write_text("# Notes\n\nOther text.\n", "utf-8")
    assert corpus_fingerprint(tiny_corpus) != before


def test_a_build_reads_each_corpus_file_once(tiny_corpus, tmp_path, monkeypatch):
    (tiny_corpus / "notes.xyz").write_text("not indexed", "utf-8")
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and str(file).startswith(str(tiny_corpus)):
            opened.append(Path(file).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    for _ in range(2):  # a full build, then an up-to-date one
        opened.clear()
        build(tiny_corpus, tmp_path / "index")
        assert sorted(opened) == ["diet.md", "sarcoma.meta.json", "sarcoma.txt"]  # a skipped file: never


# ---- one definition of "up to date" ---------------------------------------------------------------------


def test_staleness_and_the_build_agree_on_every_setting(tiny_corpus, tmp_path):
    index = tmp_path / "index"
    build(tiny_corpus, index)
    assert staleness(tiny_corpus, index) is None
    changed = {
        "embed_headings": False, "query_prefix": "query: ", "passage_prefix": "passage: ", "overlap": 2,
        "heading_weight": 3, "index_type": "hnsw",
    }
    for name, value in changed.items():
        why = staleness(tiny_corpus, index, **{name: value})
        assert why is not None, name
        assert not build(tiny_corpus, tmp_path / "copy", **{name: value}).up_to_date
    assert staleness(tiny_corpus, index, max_tokens=41) is not None
    assert staleness(tiny_corpus, index, model_fingerprint="other") is not None
    # What a build with the same settings would write is up to date, whoever asks.
    same = {"embed_headings": True, "query_prefix": "", "passage_prefix": "", "overlap": 1, "heading_weight": 1}
    assert staleness(tiny_corpus, index, index_type="auto", max_tokens=40, **same) is None
    assert build(tiny_corpus, index).up_to_date


def test_unstated_settings_are_taken_from_the_manifest(tiny_corpus, tmp_path):
    # The page and eval know no build flags: an index built without headings is current for them.
    index = tmp_path / "index"
    build(tiny_corpus, index, embed_headings=False, heading_weight=2, overlap=0)
    assert staleness(tiny_corpus, index) is None
    assert staleness(tiny_corpus, index, model_fingerprint="fake-hash-64") is None
    assert "headings" in (staleness(tiny_corpus, index, embed_headings=True) or "")


def test_another_package_version_or_corpus_path_is_stale(tiny_corpus, tmp_path):
    index = tmp_path / "index"
    build(tiny_corpus, index)
    edit_manifest(index, package_version="0.0.1")
    assert "0.0.1" in (staleness(tiny_corpus, index) or "")
    edit_manifest(index, package_version=__version__, corpus="elsewhere")
    assert "elsewhere" in (staleness(tiny_corpus, index) or "")


def test_a_damaged_index_is_stale_for_every_caller(tiny_corpus, tmp_path):
    index = tmp_path / "index"
    build(tiny_corpus, index)
    (resolve(index) / "vectors.npy").unlink()
    assert "vector" in (staleness(tiny_corpus, index) or "")
    (resolve(index) / "vectors.faiss").write_bytes(b"garbage" * 10)
    assert "damaged" in (staleness(tiny_corpus, index) or "")


def test_cli_if_stale_rebuilds_when_a_flag_differs(tiny_corpus, tmp_path, monkeypatch, capsys):
    from passage_search.app.cli import main

    monkeypatch.setattr("passage_search.embed.factory.make_embedder", lambda model=None, **_: FakeEmbedder())
    out = tmp_path / "idx"
    args = ["build", "--corpus", str(tiny_corpus), "--out", str(out), "-q", "--if-stale"]
    assert main(args) == 0
    first = resolve(out)
    assert main(args) == 0 and resolve(out) == first
    capsys.readouterr()
    assert main([*args, "--no-headings"]) == 0
    assert "headings" in capsys.readouterr().err
    assert resolve(out) != first and not load_index(out).manifest.embed_headings
    assert main([*args, "--no-headings"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_eval_reuses_its_cached_index_and_the_page_sees_no_staleness(tiny_corpus, tmp_path):
    from passage_search.eval.beir import Dataset
    from passage_search.eval.evaluate import prepare_index

    corpus = tiny_corpus.parent / "beir.jsonl"
    corpus.write_text(beir_line("d0", "About iron", "iron", 6), "utf-8")
    dataset = Dataset(name="tiny", corpus={}, queries={}, qrels={}, corpus_file=corpus)
    first, _ = prepare_index(dataset, tmp_path / "cache", embedder=FakeEmbedder(), embed_headings=False)
    again, _ = prepare_index(dataset, tmp_path / "cache", embedder=FakeEmbedder(), embed_headings=False)
    assert first.built and not again.built and again.path == first.path
    manifest = load_index(first.path).manifest
    assert staleness(Path(manifest.corpus), first.path) is None  # as search_app.stale_reason asks


# ---- one way to get plain vectors back from FAISS --------------------------------------------------------


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_plain_vectors_come_back_from_every_index_type_we_build(tiny_corpus, tmp_path, kind):
    index = tmp_path / kind
    build(tiny_corpus, index, index_type=kind)
    gen = resolve(index)
    stored = np.load(gen / "vectors.npy")
    assert np.array_equal(plain_vectors(gen / "vectors.faiss", exact=True), stored)
    assert np.array_equal(plain_vectors(load_index(index).vectors, gen / "vectors.npy"), stored)
    # Without the array, the next build still reuses every vector, whatever the type.
    (gen / "vectors.npy").unlink()
    (gen / "headings.npy").unlink()
    (tiny_corpus / "walking.md").write_text("# Walking\n\nA short walk each day eases tiredness.\n", "utf-8")
    assert build(tiny_corpus, index, index_type=kind).embedded == 1
