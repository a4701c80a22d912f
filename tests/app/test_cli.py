"""The command line, in process (with the fake model) and as a real subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from conftest import DAMAGE, REPO, FakeEmbedder, write_tree

from passage_search.app.cli import main
from passage_search.index.store import load_index


@pytest.fixture
def fake_model(monkeypatch):
    """Every place the CLI makes a sentence-transformers model gets the fake one instead."""

    def make(model=None, **_kwargs):
        return FakeEmbedder(name=model or "fake-hash")

    monkeypatch.setattr("passage_search.index.build.make_embedder", make)
    monkeypatch.setattr("passage_search.search.model.make_embedder", make)
    monkeypatch.setattr("passage_search.embed.factory.make_embedder", make)


def run_python(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done, time.perf_counter() - started


def test_build_prints_one_summary_line(fake_model, tiny_corpus, tmp_path, capsys):
    out = tmp_path / "idx"
    assert main(["build", "--corpus", str(tiny_corpus), "--out", str(out), "-q"]) == 0
    stdout = capsys.readouterr().out.strip().splitlines()
    assert len(stdout) == 1
    match = re.match(r"Indexed 2 documents into (\d+) passages in (\d+\.\d) s", stdout[0])
    assert match, stdout[0]
    assert int(match.group(1)) == len(load_index(out).passages)
    assert float(match.group(2)) < 60


def test_build_reports_skipped_files(fake_model, tiny_corpus, tmp_path, capsys):
    (tiny_corpus / "slides.pptx").write_bytes(b"PK\x03\x04")
    assert main(["build", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "idx"), "-q"]) == 0
    captured = capsys.readouterr()
    assert "(1 files skipped)" in captured.out or "(1 file skipped)" in captured.out
    assert "slides.pptx" in captured.err and "unsupported" in captured.err


def test_build_if_stale_skips_an_up_to_date_index(fake_model, tiny_corpus, tmp_path, capsys):
    out = tmp_path / "idx"
    args = ["build", "--corpus", str(tiny_corpus), "--out", str(out), "-q", "--if-stale"]
    assert main(args) == 0
    first = (out / "current").resolve()
    capsys.readouterr()
    assert main(args) == 0
    assert "up to date" in capsys.readouterr().out
    assert (out / "current").resolve() == first
    (tiny_corpus / "diet.md").write_text("# Eating well\n\nNew advice.\n", "utf-8")
    assert main(args) == 0
    assert (out / "current").resolve() != first


def test_search_json_fields(fake_model, fake_index, capsys):
    assert main(["search", "limb sparing surgery", "--index", str(fake_index), "--json", "-k", "3"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    passages = {p.id: p for p in load_index(fake_index).passages}
    for hit in hits:
        assert {"rank", "score", "id", "heading_path", "title", "text", "source"} <= set(hit)
        assert isinstance(hit["score"], float)
        p = passages[hit["id"]]
        assert hit["heading_path"] == list(p.heading_path)
        assert (hit["title"], hit["text"], hit["source"]) == (p.title, p.text, p.source)
    assert hits[0]["heading_path"] == ["Living with sarcoma", "Surgery"]
    assert hits[0]["source"] == "sarcoma.txt"


def test_search_text_output_shows_breadcrumb_and_source(fake_model, fake_index, capsys):
    assert main(["search", "limb sparing surgery", "--index", str(fake_index), "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert "1. [" in out and "Living with sarcoma › Surgery" in out
    assert "Source: Example Health Society — sarcoma.txt" in out


def test_search_missing_index_names_the_build_command(fake_model, tmp_path, capsys):
    assert main(["search", "surgery", "--index", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "build_index.py" in err[0] or "passage-search build" in err[0]


def test_help_subprocess_is_fast():
    done, seconds = run_python("-m", "passage_search", "--help")
    assert done.returncode == 0, done.stderr
    assert "search" in done.stdout and "build" in done.stdout
    assert seconds < 5, f"--help took {seconds:.1f} s"


def test_help_does_not_import_the_model_stack():
    code = (
        "import sys\n"
        "from passage_search.app.cli import main\n"
        "try:\n    main(['search', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'sentence_transformers', 'faiss', 'streamlit')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done, _ = run_python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("question", ["", "  "])
def test_empty_question_subprocess_exits_1_with_one_line(tmp_path, question):
    done, seconds = run_python("-m", "passage_search", "search", question, "--index", str(tmp_path / "none"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("passage-search: ")
    assert done.stdout == ""
    assert seconds < 10, f"an empty question took {seconds:.1f} s to refuse"


def test_a_very_long_question_is_searched_with_a_notice(fake_model, fake_index, capsys):
    assert main(["search", "limb sparing surgery " * 600, "--index", str(fake_index), "-k", "1"]) == 0
    captured = capsys.readouterr()
    assert "1. [" in captured.out
    assert captured.err.strip() == "passage-search: Only the first 1,000 characters of your question were searched."


# ---- a damaged index, and a corpus full of files that cannot be read -----------------------------------------


def one_line_refusal(rc: int, stderr: str) -> str:
    assert rc == 1
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("passage-search: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_search_on_a_damaged_index_subprocess_exits_1_with_one_line(fake_index, damage):
    DAMAGE[damage](fake_index)
    done, seconds = run_python("-m", "passage_search", "search", "surgery", "--index", str(fake_index))
    line = one_line_refusal(done.returncode, done.stderr)
    assert "python build_index.py" in line
    assert done.stdout == ""
    assert seconds < 30, f"refusing a damaged index took {seconds:.1f} s"  # refused before any model loads


def _index_of_the_packaged_model(tiny_corpus, tmp_path, problem):
    """An index whose manifest names the packaged model, with another fingerprint or vector size."""
    from passage_search.embed.base import DEFAULT_MODEL
    from passage_search.embed.model_folder import default_model_path, model_fingerprint
    from passage_search.index.build import build_index

    fingerprint = model_fingerprint(default_model_path())
    made_by = {
        "other-fingerprint": FakeEmbedder(name=DEFAULT_MODEL, fingerprint="another-model-0000"),
        "other-dimension": FakeEmbedder(name=DEFAULT_MODEL, dimension=32, fingerprint=fingerprint),
    }[problem]
    out = tmp_path / "idx"
    build_index(tiny_corpus, out, embedder=made_by)
    return out


@pytest.mark.parametrize("problem", ["other-fingerprint", "other-dimension"])
def test_search_with_another_model_subprocess_exits_1_before_loading_it(tiny_corpus, tmp_path, problem):
    index = _index_of_the_packaged_model(tiny_corpus, tmp_path, problem)
    # As `python -m passage_search search`, then a look at what the process imported: the refusal must
    # come from the manifest and the model folder's files, not from running the model.
    code = (
        "import runpy, sys\n"
        "sys.argv = ['passage_search', 'search', 'surgery', '--index', sys.argv[1]]\n"
        "try:\n    runpy.run_module('passage_search', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        "print(code, sorted(m for m in ('torch', 'onnxruntime', 'sentence_transformers') if m in sys.modules))"
    )
    done, seconds = run_python("-c", code, str(index))
    assert done.stdout.strip() == "1 []", done.stdout + done.stderr
    line = one_line_refusal(1, done.stderr)
    assert "python build_index.py" in line
    assert seconds < 30, f"refusing another model's index took {seconds:.1f} s"


def test_search_with_another_fake_model_exits_1_with_one_line(fake_model, tiny_corpus, tmp_path, capsys):
    from passage_search.index.build import build_index

    build_index(tiny_corpus, tmp_path / "idx", embedder=FakeEmbedder(dimension=32, fingerprint="other-32"))
    rc = main(["search", "surgery", "--index", str(tmp_path / "idx")])
    captured = capsys.readouterr()
    line = one_line_refusal(rc, captured.err)
    assert "other-32" in line and "python build_index.py" in line
    assert captured.out == ""


def test_build_names_every_skipped_file_and_why(fake_model, tmp_path, capsys):
    corpus = write_tree(
        tmp_path / "corpus",
        {
            "good.txt": "Care\n\nRest\n\nSleep helps your body recover.\n",
            "latin1.txt": "Café crème brûlée.\n".encode("latin-1"),
            "toc.txt": "Title\n\nHeading one\n\nHeading two\n",
            "nul.txt": b"Some text\x00with a NUL byte.\n",
            "slides.pptx": b"PK\x03\x04",
        },
    )
    (corpus / "gone.md").symlink_to(tmp_path / "missing.md")
    assert main(["build", "--corpus", str(corpus), "--out", str(tmp_path / "idx"), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Indexed 1 document into ")
    assert "(5 files skipped)" in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 5, captured.err
    expected = {
        "gone.md": "a link to nothing (broken symlink)",
        "latin1.txt": "is not UTF-8 text (byte 3); convert it to UTF-8.",
        "nul.txt": "looks binary (it contains NUL bytes).",
        "slides.pptx": "unsupported file type",
        "toc.txt": "no text under any heading",
    }
    for name, reason in expected.items():
        line = next((line for line in err if line.startswith(f"skipped {name}: ")), None)
        assert line is not None, f"{name} not reported: {captured.err}"
        assert line.endswith(reason), line
    assert "good.txt" not in captured.err


def test_build_of_an_empty_folder_exits_1_with_one_line(fake_model, tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    rc = main(["build", "--corpus", str(tmp_path / "corpus"), "--out", str(tmp_path / "idx"), "-q"])
    captured = capsys.readouterr()
    line = one_line_refusal(rc, captured.err)
    assert (
        line == f"passage-search: No passages found in {tmp_path / 'corpus'}; add .txt, .md, .html, .pdf, .docx "
        "or BEIR corpus.jsonl files."
    )
    assert captured.out == ""
    assert not (tmp_path / "idx" / "current").exists()


# ---- what a build skips: lines of a corpus.jsonl, links out of the corpus --------------------------------------


def _beir_lines(*docs: dict | str) -> str:
    return "".join((d if isinstance(d, str) else json.dumps(d)) + "\n" for d in docs)


def test_build_keeps_the_good_lines_of_a_corpus_jsonl_and_names_the_bad_ones(fake_model, tmp_path, capsys):
    docs: list[dict | str] = [{"_id": f"d{i}", "title": f"Topic {i}", "text": f"Text number {i}."} for i in range(6)]
    docs[2:2] = ["{not json"]
    docs += [{"_id": "d1", "text": "A second d1."}, {"_id": "d7", "title": "No text"}]
    corpus = write_tree(tmp_path / "corpus", {"corpus.jsonl": _beir_lines(*docs)})
    assert main(["build", "--corpus", str(corpus), "--out", str(tmp_path / "idx"), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Indexed 6 documents into ")
    assert (
        "(0 files skipped; 3 lines skipped: 1 not valid JSON, 1 with an _id already read (the first kept), "
        "1 without text)" in captured.out
    )
    assert captured.err.strip().splitlines() == [
        "skipped corpus.jsonl line 3: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        'skipped corpus.jsonl line 8: duplicate _id ("d1", first at line 2, kept)',
        'skipped corpus.jsonl line 9: no text (_id "d7")',
    ]
    assert sorted({p.doc_id for p in load_index(tmp_path / "idx").passages}) == [f"d{i}" for i in range(6)]


def test_build_lists_a_few_bad_lines_of_each_kind_and_counts_the_rest(fake_model, tmp_path, capsys):
    docs = [{"_id": "ok", "text": "Kept."}] + [{"_id": f"e{i}", "text": ""} for i in range(1200)]
    corpus = write_tree(tmp_path / "corpus", {"corpus.jsonl": _beir_lines(*docs), "slides.pptx": b"PK"})
    assert main(["build", "--corpus", str(corpus), "--out", str(tmp_path / "idx"), "-q"]) == 0
    captured = capsys.readouterr()
    assert "(1 file skipped; 1,200 lines skipped: 1,200 without text)" in captured.out
    err = captured.err.strip().splitlines()
    assert err[0] == "skipped slides.pptx: unsupported file type"
    assert err[1:6] == [f'skipped corpus.jsonl line {n}: no text (_id "e{n - 2}")' for n in range(2, 7)]
    assert err[6:] == ["skipped 1,195 more lines of corpus.jsonl: no text"]


def test_build_skips_links_out_of_the_corpus_and_link_loops(fake_model, tiny_corpus, tmp_path, capsys):
    outside = write_tree(tmp_path / "private", {"notes.txt": "Private\n\nNotes\n\nMy own notes, not for the index.\n"})
    (tiny_corpus / "notes.txt").symlink_to(outside / "notes.txt")
    (tiny_corpus / "loop.md").symlink_to("loop.md")
    assert main(["build", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "idx"), "-q"]) == 0
    captured = capsys.readouterr()
    assert "(2 files skipped)" in captured.out
    assert captured.err.strip().splitlines() == [
        "skipped loop.md: a link that leads round in a loop (symlink loop)",
        f"skipped notes.txt: a link to a file outside the corpus folder ({outside / 'notes.txt'}); copy the file in to "
        "index it",
    ]
    assert not any("notes" in p.text for p in load_index(tmp_path / "idx").passages)


def test_build_summary_prints_file_names_without_their_control_characters(fake_model, tiny_corpus, tmp_path, capsys):
    (tiny_corpus / "evil\x1b[2J\x07.pptx").write_bytes(b"PK")
    assert main(["build", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "idx"), "-q"]) == 0
    err = capsys.readouterr().err
    assert err == "skipped evil.pptx: unsupported file type\n"


# ---- search: k, and corpus text that would drive the terminal -------------------------------------------------


@pytest.mark.parametrize("k", ["0", "-1", "three", "2.5", ""])
def test_search_k_below_one_or_not_a_number_is_a_usage_error(fake_model, fake_index, capsys, k):
    with pytest.raises(SystemExit) as info:
        main(["search", "surgery", "--index", str(fake_index), "-k", k])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines()[-1] == (
        f"passage-search search: error: argument -k: expected a whole number of at least 1, got {k!r}"
    )


# JSON lets every control character through to a passage: escape sequences (CSI, OSC), BEL, CR, NUL, DEL, C1.
ANSI_DOC = {
    "_id": "p1",
    "title": "Care\x1b[31m guide\x1b]0;pwned\x07",
    "text": "Sleep\x1b[2J helps\r your\x9b2J body\x00 recover.\x7f\tWell.\nSecond\x1b[1A line.",
}


@pytest.fixture
def ansi_index(tmp_path):
    from passage_search.index.build import build_index

    meta = json.dumps({"publisher": "Evil\x1b[5m Society"})
    corpus = write_tree(tmp_path / "corpus", {"corpus.jsonl": json.dumps(ANSI_DOC), "corpus.meta.json": meta})
    build_index(corpus, tmp_path / "idx", embedder=FakeEmbedder())
    return tmp_path / "idx"


def test_search_prints_corpus_text_without_escape_sequences_or_controls(fake_model, ansi_index, capsys):
    assert main(["search", "sleep helps recover", "--index", str(ansi_index), "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), repr(out)
    assert "] Care guide\n" in out
    assert "   Sleep helps your2J body recover.\tWell.\n   Second line.\n" in out
    assert "Source: Evil Society — corpus.jsonl" in out


def test_search_json_keeps_the_corpus_text_exactly_with_every_control_escaped(fake_model, ansi_index, capsys):
    assert main(["search", "sleep helps recover", "--index", str(ansi_index), "-k", "1", "--json"]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), repr(out)
    hit = json.loads(out)["hits"][0]
    assert hit["text"] == next(p.text for p in load_index(ansi_index).passages if p.id == hit["id"])
    assert "\x1b[2J" in hit["text"] and "\x9b" in hit["text"] and hit["publisher"] == "Evil\x1b[5m Society"


def test_build_if_stale_rebuilds_a_damaged_index_and_says_why(fake_model, tiny_corpus, tmp_path, capsys):
    out = tmp_path / "idx"
    args = ["build", "--corpus", str(tiny_corpus), "--out", str(out), "-q", "--if-stale"]
    assert main(args) == 0
    vectors = (out / "current").resolve() / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])  # truncated: what start.sh's --if-stale must not call up to date
    capsys.readouterr()
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "up to date" not in captured.out
    assert "Building the index because The index at" in captured.err and "vectors.faiss" in captured.err
    assert "only the intact files of the previous index were reused: vectors.faiss is damaged" in captured.err
    assert load_index(out).manifest.passage_count > 0


# ---- what was searched, searching the words as typed, and where the passage is on the publisher's site --------


def test_search_says_what_it_searched_and_exact_searches_the_words_as_typed(fake_model, fake_index, capsys):
    assert main(["search", "surgrey for the tumour", "--index", str(fake_index), "-k", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        "Showing results for surgery for the tumour",
        "Search instead for “surgrey for the tumour”: add --exact.",
    ]
    assert main(["search", "surgrey for the tumour", "--index", str(fake_index), "-k", "1", "--exact"]) == 0
    assert "Showing results for" not in capsys.readouterr().out
    assert main(["search", "surgrey for the tumour", "--index", str(fake_index), "-k", "1", "--exact", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert (body["exact"], body["corrections"], body["showing"]) == (True, {}, "")
    assert main(["search", "surgrey", "--index", str(fake_index), "-k", "1", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["showing"] == "Showing results for surgery" and body["corrections"] == {"surgrey": "surgery"}


def test_search_prints_the_source_url_under_the_source(fake_model, tmp_path, capsys):
    corpus = write_tree(
        tmp_path / "corpus",
        {
            "op.txt": "Your operation\n\nSurgery\n\nSurgery removes the tumour.\n",
            "op.meta.json": json.dumps({"publisher": "Example Society", "url": "https://example.org/op"}),
        },
    )
    assert main(["build", "--corpus", str(corpus), "--out", str(tmp_path / "idx"), "-q"]) == 0
    capsys.readouterr()
    assert main(["search", "surgery", "--index", str(tmp_path / "idx"), "-k", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(out) if line.strip().startswith("Source:"))
    assert out[at] == "   Source: Example Society — op.txt"
    assert out[at + 1] == "           https://example.org/op"
    assert main(["search", "surgery", "--index", str(tmp_path / "idx"), "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["url"] == "https://example.org/op"
