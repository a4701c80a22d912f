"""Whatever a person types or a corpus file holds: a list of valid hits, sections, or one clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passage_search.errors import CorpusError, QueryError
from passage_search.ingest.readers import parse_beir_jsonl, parse_html, parse_md, parse_txt
from passage_search.search.query import MAX_QUERY_CHARS
from passage_search.search.searcher import Searcher

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

NASTY = [
    "",
    "   \t\n ",
    "\x00\x00",
    "surgery\x00\x07\x1b[31m",
    "🙂🩺💊",
    "ما هو علاج الساركوما؟",
    "שאלה על טיפול",
    "肉瘤的治疗方法是什么",
    "the of and a to",
    "?!.,;:",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "![x](http://example.com/x.png)",
    "$\\frac{1}{0}$ and $$x$$",
    "a" * 10_000,
    "surgery " * 2_000,
    "\ud800 lone surrogate",
]


def _valid(hits, searcher: Searcher, k: int) -> None:
    assert len(hits) <= k
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    ids = [h.passage.id for h in hits]
    assert len(set(ids)) == len(ids)
    assert all(h.passage in searcher.passages for h in hits)


@pytest.fixture
def fake_searcher(fake_index, fake_embedder) -> Searcher:
    return Searcher(fake_index, embedder=fake_embedder)


@pytest.mark.parametrize("query", NASTY, ids=range(len(NASTY)))
@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_nasty_questions_give_hits_or_one_clear_error(fake_searcher, query, mode):
    try:
        hits = fake_searcher.search(query, k=5, mode=mode)
    except QueryError as exc:
        assert not query.strip("\x00 \t\n"), f"only an empty question may be refused, not {query[:30]!r}"
        assert str(exc).endswith(".")
        return
    _valid(hits, fake_searcher, 5)


@SETTINGS
@given(query=st.text(max_size=300), k=st.integers(min_value=-2, max_value=30))
def test_any_string_gives_valid_hits_or_a_query_error(fake_searcher, query, k):
    try:
        hits = fake_searcher.search(query, k=k)
    except QueryError:
        return
    _valid(hits, fake_searcher, max(k, 0))


def test_a_very_long_question_is_searched_on_a_bounded_prefix(fake_searcher):
    forms = fake_searcher.analyze("chemotherapy " + "x" * 20_000)
    assert len(forms.text) == MAX_QUERY_CHARS
    assert forms.text.startswith("chemotherapy ")


@SETTINGS
@given(text=st.text(max_size=2000))
def test_text_readers_never_crash(text):
    for parse in (parse_txt, parse_md, parse_html):
        sections = parse(text, doc_id="d", source="d", title="T")
        for s in sections:
            assert s.text.strip()
            assert all(h for h in s.heading_path)


@SETTINGS
@given(
    lines=st.lists(
        st.one_of(
            st.text(max_size=80),
            st.builds(
                lambda i, t, x: json.dumps({"_id": i, "title": t, "text": x}),
                st.text(max_size=10),
                st.text(max_size=20),
                st.text(max_size=80),
            ),
        ),
        max_size=6,
    )
)
def test_beir_reader_gives_sections_or_a_corpus_error(lines):
    try:
        parse_beir_jsonl("\n".join(lines), source="corpus.jsonl")
    except CorpusError as exc:
        assert "line" in str(exc)


def _snapshot(*roots):
    files = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                files[path] = (path.stat().st_size, path.stat().st_mtime_ns)
    return files


@pytest.mark.model
def test_a_search_stores_nothing_of_the_question(real_index, tmp_path):
    marker = "zebrafish-marker-7731 surgery for my leg"
    home, tmp, work = tmp_path / "home", tmp_path / "tmp", tmp_path / "work"
    for folder in (home, tmp, work):
        folder.mkdir()
    # The shared cache holds the exported model (made when real_index was built); it must stay untouched,
    # and ONNX Runtime must not record usage there (passage_search/__init__.py).
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp), "XDG_CACHE_HOME": cache}
    before = _snapshot(home, tmp, work, real_index, Path(cache))
    done = subprocess.run(
        [sys.executable, "-m", "passage_search", "search", marker, "--index", str(real_index), "-k", "2"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    after = _snapshot(home, tmp, work, real_index, Path(cache))
    assert after == before, f"a search wrote files: {sorted(set(after) ^ set(before))}"
    for path in Path(cache).rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert marker.encode() not in path.read_bytes(), f"the question was stored in {path}"
