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
    assert line == f"passage-search: No passages found in {tmp_path / 'corpus'}; add .txt, .md, .html, .pdf, .docx " \
        "or BEIR corpus.jsonl files."
    assert captured.out == ""
    assert not (tmp_path / "idx" / "current").exists()
