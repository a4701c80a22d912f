"""The command line, in process (with the fake model) and as a real subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from conftest import REPO, FakeEmbedder

from passage_search.cli import main
from passage_search.index import load_index


@pytest.fixture
def fake_model(monkeypatch):
    """Every place the CLI makes a sentence-transformers model gets the fake one instead."""

    def make(model=None, **_kwargs):
        return FakeEmbedder(name=model or "fake-hash")

    monkeypatch.setattr("passage_search.build.make_embedder", make)
    monkeypatch.setattr("passage_search.searcher.make_embedder", make)
    monkeypatch.setattr("passage_search.embedder.make_embedder", make)


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
    (tiny_corpus / "scan.pdf").write_bytes(b"%PDF")
    assert main(["build", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "idx"), "-q"]) == 0
    captured = capsys.readouterr()
    assert "(1 files skipped)" in captured.out or "(1 file skipped)" in captured.out
    assert "scan.pdf" in captured.err and "unsupported" in captured.err


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
    hits = json.loads(capsys.readouterr().out)
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
    assert "Source: Example Health Society, sarcoma.txt" in out


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
        "from passage_search.cli import main\n"
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
