"""An index proves its content: every way of damaging or editing a generation is refused in one sentence
naming the fix, is stale for ``--if-stale``, and lends nothing damaged to the next build."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder, edit_manifest, write_tree

from passage_search.errors import IndexMismatchError, IndexWriteError, PassageSearchError
from passage_search.index import writer
from passage_search.index.build import build_index, staleness
from passage_search.index.manifest import Manifest, field_problem, read_manifest, resolve
from passage_search.index.store import load_index
from passage_search.search.searcher import Searcher

CORPUS = {
    "care.txt": "Sarcoma care\n\nSurgery\n\nLimb sparing surgery removes the tumour and keeps the limb. An "
    "amputation is rarely needed.\n\nRadiation\n\nRadiation before surgery can shrink the tumour.\n\nAfter "
    "treatment\n\nFollow up visits check that the cancer has not come back.\n",
    "eating.md": "# Eating well\n\n## Nausea\n\nSmall meals help with nausea and a poor appetite.\n\n## Weight"
    "\n\nA dietitian helps you keep your weight up.\n",
}


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _edit(path: Path) -> None:
    """Change content the way a person or a bad tool would, keeping the file's format valid."""
    if path.suffix in (".jsonl", ".json"):
        text = path.read_text("utf-8")
        for old, new in (("tumour", "TUMOUR-EDITED"), ("surgery", "surgerY"), ('"', '"x')):
            if old in text:
                path.write_text(text.replace(old, new, 1), "utf-8")
                return
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes((b ^ 0xFF) for b in data[middle : middle + 16])  # 16 bytes flipped
    path.write_bytes(bytes(data))


def _reorder(path: Path) -> None:
    """Reverse the rows: lines of a .jsonl, rows of an array, vectors of a FAISS index, keys of a JSON object."""
    if path.suffix == ".jsonl":
        lines = path.read_text("utf-8").splitlines(keepends=True)
        path.write_text("".join(reversed(lines)), "utf-8")
    elif path.suffix == ".npy":
        np.save(path, np.load(path)[::-1].copy())
    elif path.suffix == ".faiss":
        import faiss

        index = faiss.read_index(str(path))
        vectors = index.reconstruct_n(0, index.ntotal)[::-1].copy()
        flat = faiss.IndexFlatIP(index.d)
        flat.add(vectors)
        faiss.write_index(flat, str(path))
    else:
        data = json.loads(path.read_text("utf-8"))
        reordered = dict(reversed(list(data.items()))) if isinstance(data, dict) else list(reversed(data))
        path.write_text(json.dumps(reordered), "utf-8")


def _delete(path: Path) -> None:
    path.unlink()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "empty": _empty,
    "truncated": _truncate,
    "bit flip": _flip_a_bit,
    "edited": _edit,
    "reordered": _reorder,
    "deleted": _delete,
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("integrity")
    corpus = write_tree(root / "corpus", CORPUS)
    build_index(corpus, root / "index", embedder=FakeEmbedder())
    return corpus, root / "index"


def generation_files(index: Path) -> list[str]:
    gen = resolve(index)
    return sorted(p.relative_to(gen).as_posix() for p in gen.rglob("*") if p.is_file())


def copy_of(pristine: tuple[Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(pristine[1], copy, symlinks=True)
    return copy


def one_sentence(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.endswith(("--force", "--force.", "build_index.py")), text
    return text


def test_the_manifest_lists_every_other_file_of_the_generation(pristine):
    manifest = read_manifest(pristine[1])
    assert sorted(manifest.checksums) == [f for f in generation_files(pristine[1]) if f != "manifest.json"]
    assert all(len(digest) == 64 for digest in manifest.checksums.values())
    assert len(manifest.passages_fingerprint) == 64


FILES = [
    "manifest.json", "vectors.faiss", "vectors.npy", "passages.jsonl", "documents.jsonl", "headings.faiss",
    "headings.jsonl", "headings.npy", "probes.npy", "lexical/data.csc.index.npy", "lexical/indices.csc.index.npy",
    "lexical/indptr.csc.index.npy", "lexical/params.index.json", "lexical/vocab.index.json", "lexical/words.json",
]  # fmt: skip


def test_the_matrix_covers_every_file_a_build_writes(pristine):
    assert sorted(FILES) == generation_files(pristine[1])


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("name", FILES)
def test_every_damage_to_every_file_is_refused_and_stale(pristine, tmp_path, name, damage):
    corpus, _ = pristine
    index = copy_of(pristine, tmp_path)
    DAMAGES[damage](resolve(index) / name)
    if name == "manifest.json" and damage == "reordered":
        # The same fields in another order are the same manifest: it proves its content, not its layout.
        assert load_index(index).manifest == read_manifest(pristine[1])
        return
    with pytest.raises(PassageSearchError) as caught:
        load_index(index)
    message = one_sentence(caught.value)
    if name != "manifest.json":
        assert "cannot be trusted" in message and name in message and message.endswith("--force"), message
    with pytest.raises(PassageSearchError):
        Searcher(index, embedder=FakeEmbedder())
    assert staleness(corpus, index) is not None  # what build --if-stale and the page's start-up ask


@pytest.mark.parametrize("name", [f for f in FILES if f != "manifest.json"])
def test_a_rebuild_after_damage_reuses_only_intact_files_and_equals_a_fresh_build(pristine, tmp_path, name):
    corpus, _ = pristine
    index = copy_of(pristine, tmp_path)
    _edit(resolve(index) / name)
    result = build_index(corpus, index, embedder=FakeEmbedder())
    assert not result.up_to_date and any(name in note for note in result.notes), result.notes
    fresh = build_index(corpus, tmp_path / "fresh", embedder=FakeEmbedder())
    rebuilt, expected = load_index(index), load_index(fresh.path)
    assert rebuilt.passages == expected.passages
    assert np.array_equal(rebuilt.vector_array, expected.vector_array)
    assert np.array_equal(rebuilt.heading_array, expected.heading_array)


def test_a_zeroed_vector_row_is_not_carried_into_the_next_build(pristine, tmp_path):
    corpus, _ = pristine
    index = copy_of(pristine, tmp_path)
    path = resolve(index) / "vectors.npy"
    vectors = np.load(path)
    vectors[1] = 0.0
    np.save(path, vectors)
    with pytest.raises(IndexMismatchError, match="vectors.npy was changed or damaged"):
        Searcher(index, embedder=FakeEmbedder())
    result = build_index(corpus, index, embedder=FakeEmbedder())
    # The FAISS file is intact and holds the same vectors: they are reused, the zeroed array never is.
    assert result.embedded == 0 and not np.any(np.all(load_index(index).vector_array == 0, axis=1))


def test_a_zeroed_row_in_the_faiss_file_is_refused(pristine, tmp_path):
    import faiss

    index = copy_of(pristine, tmp_path)
    path = resolve(index) / "vectors.faiss"
    stored = faiss.read_index(str(path))
    vectors = stored.reconstruct_n(0, stored.ntotal)
    vectors[0] = 0.0
    flat = faiss.IndexFlatIP(stored.d)
    flat.add(vectors)
    faiss.write_index(flat, str(path))
    with pytest.raises(IndexMismatchError, match="vectors.faiss was changed or damaged"):
        load_index(index)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"query_prefix": "query: "}, "changed after the build"),
        ({"passage_count": "11"}, "changed after the build"),
        ({"extra": 1}, "changed after the build"),
    ],
)
def test_a_hand_edited_manifest_is_refused(pristine, tmp_path, changes, why):
    index = copy_of(pristine, tmp_path)
    path = resolve(index) / "manifest.json"
    data = json.loads(path.read_text("utf-8"))
    path.write_text(json.dumps({**data, **changes}, indent=2), "utf-8")
    with pytest.raises(IndexMismatchError, match=why) as caught:
        load_index(index)
    assert one_sentence(caught.value).endswith("build_index.py --force")


def test_a_manifest_field_of_the_wrong_type_or_unknown_is_named():
    data = read_fields()
    assert field_problem(Manifest, {**data, "passage_count": "11"}) == "has passage_count = '11', not a whole number"
    assert field_problem(Manifest, {**data, "passage_count": True}) == "has passage_count = True, not a whole number"
    assert field_problem(Manifest, {**data, "extra": 1}) == "has an unknown field 'extra'"
    model = {**data["model"], "dimension": "64"}
    assert field_problem(Manifest, {**data, "model": model}) == "has model.dimension = '64', not a whole number"
    assert field_problem(Manifest, {k: v for k, v in data.items() if k != "model"}) == "lacks the field 'model'"
    assert field_problem(Manifest, data) is None


def read_fields() -> dict:
    from passage_search.index.manifest import ModelInfo

    return Manifest(ModelInfo("m", "f", 4, 8), 3, 2, "c").to_json()


def test_a_generation_whose_manifest_was_resealed_but_files_differ_is_still_refused(pristine, tmp_path):
    # Someone edits passages.jsonl and re-seals the manifest without updating the checksums.
    index = copy_of(pristine, tmp_path)
    _edit(resolve(index) / "passages.jsonl")
    edit_manifest(index, query_prefix="")
    with pytest.raises(IndexMismatchError, match="passages.jsonl was changed or damaged"):
        load_index(index)


def test_passages_edited_with_matching_checksums_are_refused_by_the_fingerprint(pristine, tmp_path):
    # Even a forger who updates the checksum: the ids, recomputed from the text, no longer match.
    from passage_search.index.integrity import file_sha256

    index = copy_of(pristine, tmp_path)
    path = resolve(index) / "passages.jsonl"
    _edit(path)
    manifest = read_manifest(index)
    edit_manifest(index, checksums={**manifest.checksums, "passages.jsonl": file_sha256(path)})
    with pytest.raises(IndexMismatchError, match="passages of the index .* are not the ones its build wrote"):
        load_index(index)


@pytest.mark.parametrize("loop", ["self", "two links"])
def test_a_current_link_that_loops_is_refused_in_one_sentence_and_a_build_repairs_it(pristine, tmp_path, loop):
    corpus, _ = pristine
    index = copy_of(pristine, tmp_path)
    (index / "current").unlink()
    if loop == "self":
        os.symlink("current", index / "current")
    else:
        os.symlink("other", index / "current")
        os.symlink("current", index / "other")
    with pytest.raises(IndexMismatchError, match="loops") as caught:
        Searcher(index, embedder=FakeEmbedder())
    one_sentence(caught.value)
    assert staleness(corpus, index) is not None
    build_index(corpus, index, embedder=FakeEmbedder())
    assert load_index(index).manifest.passage_count == read_manifest(pristine[1]).passage_count


def test_leftovers_of_killed_builds_are_removed_by_the_next_build(pristine, tmp_path):
    corpus, _ = pristine
    index = copy_of(pristine, tmp_path)
    (index / "gen-20260101T000000-999-1").mkdir()
    (index / "gen-20260101T000000-999-1" / "vectors.faiss").write_bytes(b"half")
    os.symlink("gen-20260101T000000-999-1", index / ".current.999.tmp")
    result = build_index(corpus, index, embedder=FakeEmbedder())  # up to date: nothing written, still cleaned
    assert result.up_to_date and "2 leftover(s)" in result.notes[0]
    assert sorted(p.name for p in index.iterdir() if p.name != ".build.lock") == ["current", resolve(index).name]


class _DiskFull:
    """np.save as it behaves when the disk fills after the first file of a generation."""

    def __init__(self, save: Callable[..., None]) -> None:
        self.save, self.calls = save, 0

    def __call__(self, *args: object, **kwargs: object) -> None:
        self.calls += 1
        if self.calls > 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))
        self.save(*args, **kwargs)


def test_a_full_disk_leaves_the_previous_index_and_no_partial_generation(pristine, tmp_path, monkeypatch):
    corpus, _ = pristine
    index = copy_of(pristine, tmp_path)
    before = generation_files(index), resolve(index).name
    monkeypatch.setattr(writer.np, "save", _DiskFull(np.save))
    with pytest.raises(IndexWriteError, match=r"could not be written \(the disk is full\); the previous index is"):
        build_index(corpus, index, embedder=FakeEmbedder(), force=True)
    assert (generation_files(index), resolve(index).name) == before
    assert [p.name for p in index.glob("gen-*")] == [before[1]]
    load_index(index)


def test_a_faiss_write_error_is_one_sentence_and_cleans_up(pristine, tmp_path, monkeypatch):
    import faiss

    corpus, _ = pristine
    index = copy_of(pristine, tmp_path)

    def fail(*_args: object) -> None:
        raise RuntimeError("Error in faiss::FileIOWriter::FileIOWriter(const char*) at impl/io.cpp:98: write")

    monkeypatch.setattr(faiss, "write_index", fail)
    with pytest.raises(IndexWriteError, match=r"could not be written \(Something went wrong \(RuntimeError"):
        build_index(corpus, index, embedder=FakeEmbedder(), force=True)
    assert len(list(index.glob("gen-*"))) == 1
    load_index(index)


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 1 MB tmpfs, where this machine lets the tests mount one (root in a container that allows it)."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not permitted'})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk_is_one_sentence_and_loses_nothing(pristine, small_tmpfs):
    corpus, _ = pristine
    index = small_tmpfs / "index"
    build_index(corpus, index, embedder=FakeEmbedder())
    before = generation_files(index), resolve(index).name
    free = shutil.disk_usage(small_tmpfs).free
    with open(small_tmpfs / "filler", "wb") as fh:
        try:
            fh.write(b"\0" * max(free - 60_000, 0))  # leave less room than a generation needs
        except OSError:
            pass
    with pytest.raises(IndexWriteError, match="the disk is full"):
        build_index(corpus, index, embedder=FakeEmbedder(), force=True)
    assert (generation_files(index), resolve(index).name) == before
    load_index(index)


def test_the_build_command_says_what_it_distrusted_and_search_refuses_in_one_line(pristine, tmp_path, capsys):
    from passage_search.app.cli import main

    corpus, _ = pristine
    index = copy_of(pristine, tmp_path)
    _edit(resolve(index) / "vectors.npy")
    (index / "gen-20260101T000000-999-1").mkdir()
    assert main(["search", "surgery", "--index", str(index)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "vectors.npy was changed or damaged" in err
    # The fake model's index cannot be rebuilt by the CLI (it loads the real model): build_index stands in.
    result = build_index(corpus, index, embedder=FakeEmbedder())
    assert [n.split(":")[0] for n in result.notes] == [
        "removed 1 leftover(s) of interrupted builds (gen-20260101T000000-999-1)",
        "only the intact files of the previous index were reused",
    ]


def test_verify_says_the_index_is_whole_or_names_what_is_not(pristine, tmp_path, capsys):
    from passage_search.app.cli import main

    index = copy_of(pristine, tmp_path)
    assert main(["verify", str(index)]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith(f"The index at {index} is as its build wrote it: {len(FILES)} files and 5 passages")
    _flip_a_bit(resolve(index) / "headings.faiss")
    assert main(["verify", str(index)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == (
        f"passage-search: The index at {index} cannot be trusted: its file headings.faiss was changed or damaged "
        "after the build; rebuild it with: python build_index.py --force\n"
    )
