"""Readers: every corpus format becomes sections under the right heading paths, and nothing else."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import CORPUS, REPO, TITLE, write_tree

from passage_search.errors import CorpusError
from passage_search.ingest.readers import parse_beir_jsonl, parse_html, parse_md, parse_txt, read_corpus

SEED_TXT = """\
Treatments for soft tissue sarcoma

If you have soft tissue sarcoma, your healthcare team will create a treatment plan just for you. It will be \
based on your health.

  • the grade and stage
  • where the cancer started in the body

Most cases of soft tissue sarcoma need to be managed by many specialists.

Expert review and references

Surgery for soft tissue sarcoma

Surgery is the main treatment for soft tissue sarcoma. Learn about limb-sparing surgery.

Medical disclaimer

The information does not replace your relationship with your doctor.

1-888-939-3333 | | © 2024 Canadian Cancer Society"""


def by_path(sections):
    return {s.heading_path: s for s in sections}


# ---- .txt -----------------------------------------------------------------------------------------------


def test_txt_title_line_and_headings_become_heading_paths():
    sections = parse_txt(SEED_TXT, doc_id="seed.txt", source="seed.txt")
    assert [s.heading_path for s in sections] == [
        (TITLE,),
        (TITLE, "Surgery for soft tissue sarcoma"),
        (TITLE, "Medical disclaimer"),
    ]
    assert all(s.title == TITLE and s.doc_id == "seed.txt" for s in sections)
    surgery = by_path(sections)[(TITLE, "Surgery for soft tissue sarcoma")]
    assert surgery.text == "Surgery is the main treatment for soft tissue sarcoma. Learn about limb-sparing surgery."


def test_txt_heading_without_body_yields_no_passage():
    sections = parse_txt(SEED_TXT, doc_id="seed.txt", source="seed.txt")
    assert not any("Expert review and references" in h for s in sections for h in s.heading_path)
    assert not any("Expert review and references" in s.text for s in sections)


def test_txt_bullets_are_body_of_their_section():
    intro = by_path(parse_txt(SEED_TXT, doc_id="seed.txt", source="seed.txt"))[(TITLE,)]
    assert "• the grade and stage\n• where the cancer started in the body" in intro.text
    assert intro.text.startswith("If you have soft tissue sarcoma")
    assert intro.text.endswith("managed by many specialists.")


def test_txt_phone_and_copyright_line_stays_in_the_disclaimer():
    disclaimer = by_path(parse_txt(SEED_TXT, doc_id="seed.txt", source="seed.txt"))[(TITLE, "Medical disclaimer")]
    assert disclaimer.text == (
        "The information does not replace your relationship with your doctor.\n\n"
        "1-888-939-3333 | | © 2024 Canadian Cancer Society"
    )


def test_txt_without_title_line_uses_given_title():
    text = "This leaflet explains what happens on the day of your operation.\n\nArriving\n\nCome at 7 am."
    sections = parse_txt(text, doc_id="op.txt", source="op.txt", title="Your operation")
    assert [s.heading_path for s in sections] == [("Your operation",), ("Your operation", "Arriving")]


# ---- .md ------------------------------------------------------------------------------------------------

MD = """\
# Eating well

Intro paragraph.

## Appetite

Small meals help.

### Nausea

Ginger may help.

#### Morning nausea

Dry crackers before getting up.

## Weight

```
# not a heading inside a fence
## nor this
```

Weigh yourself weekly.

# Second top heading

Text under the second H1.
"""


def test_md_atx_headings_nest():
    sections = by_path(parse_md(MD, doc_id="d.md", source="d.md"))
    assert list(sections) == [
        ("Eating well",),
        ("Eating well", "Appetite"),
        ("Eating well", "Appetite", "Nausea"),
        ("Eating well", "Appetite", "Nausea", "Morning nausea"),
        ("Eating well", "Weight"),
        ("Eating well", "Second top heading"),
    ]
    assert sections[("Eating well", "Appetite", "Nausea")].text == "Ginger may help."
    assert sections[("Eating well", "Appetite")].text == "Small meals help."


def test_md_headings_inside_code_fences_are_body_text():
    weight = by_path(parse_md(MD, doc_id="d.md", source="d.md"))[("Eating well", "Weight")]
    assert "# not a heading inside a fence" in weight.text
    assert "## nor this" in weight.text
    assert "Weigh yourself weekly." in weight.text


def test_md_closing_hashes_are_dropped_but_hash_inside_text_kept():
    text = "# Guide #\n\n## Clinic ##\n\nOpen daily.\n\n## Questions about C#\n\nAsk us.\n"
    paths = [s.heading_path for s in parse_md(text, doc_id="g.md", source="g.md")]
    assert ("Guide", "Clinic") in paths
    # CommonMark: a closing # sequence must be preceded by a space, so "C#" keeps its "#".
    assert ("Guide", "Questions about C#") in paths


# ---- .html ----------------------------------------------------------------------------------------------

HTML = """\
<html><head><title>Page title</title><style>h2 { color: red }</style>
<script>var secret = "script text";</script></head>
<body>
<h1>Chemotherapy</h1>
<p>Chemotherapy uses drugs to kill cancer cells.</p>
<h2>Side effects</h2>
<ul><li><p>Feeling tired</p></li><li>Hair loss</li></ul>
<h3>Managing nausea</h3>
<p>Anti-sickness drugs help.</p>
<script>document.write("injected")</script>
<h2>Drugs used</h2>
<p>Doxorubicin and ifosfamide.</p>
</body></html>
"""


def test_html_h1_to_h6_make_heading_paths():
    sections = by_path(parse_html(HTML, doc_id="c.html", source="c.html"))
    assert list(sections) == [
        ("Chemotherapy",),
        ("Chemotherapy", "Side effects"),
        ("Chemotherapy", "Side effects", "Managing nausea"),
        ("Chemotherapy", "Drugs used"),
    ]
    assert sections[("Chemotherapy", "Drugs used")].text == "Doxorubicin and ifosfamide."


def test_html_script_and_style_are_dropped():
    text = "\n".join(s.text for s in parse_html(HTML, doc_id="c.html", source="c.html"))
    for leaked in ("secret", "injected", "color", "document.write"):
        assert leaked not in text


def test_html_text_outside_block_elements_is_indexed():
    page = """<html><head><title>Tab title</title></head><body><h1>Chemotherapy</h1>Loose text in the body.
    <div>A div <span>with a span</span> and <b>bold</b> words.</div>
    <div><div>Nested div text.</div><p>A paragraph.</p>Text after it.</div>
    <span>A lone span.</span><!-- a comment --><div>Call us<br>any day.</div></body></html>"""
    sections = by_path(parse_html(page, doc_id="c.html", source="c.html"))
    assert sections[("Chemotherapy",)].text == (
        "Loose text in the body.\n\nA div with a span and bold words.\n\nNested div text.\n\nA paragraph.\n\n"
        "Text after it.\n\nA lone span.\n\nCall us any day."
    )


def test_html_page_header_footer_nav_and_buttons_are_dropped_but_an_articles_header_is_kept():
    page = """<body><header><div>Site banner</div><p>Donate now</p></header><nav>Home | About</nav>
    <main><article><header><h1>Surgery</h1><p>Reviewed 2024</p></header><div>Surgery removes the tumour.</div>
    <button>Print this page</button><footer>Article notes.</footer></article></main>
    <footer><p>Site footer</p><div>© Example</div></footer></body>"""
    sections = parse_html(page, doc_id="s.html", source="s.html")
    text = "\n".join(s.text for s in sections)
    assert [s.heading_path for s in sections] == [("Surgery",)]
    assert text == "Reviewed 2024\n\nSurgery removes the tumour.\n\nArticle notes."


def test_deeply_nested_html_is_read_not_a_crash():
    page = "<div>" * 5000 + "Deep text." + "</div>" * 5000
    assert [s.text for s in parse_html(page, doc_id="d.html", source="d.html")] == ["Deep text."]


def test_html_paragraph_inside_list_item_is_not_duplicated():
    side = by_path(parse_html(HTML, doc_id="c.html", source="c.html"))[("Chemotherapy", "Side effects")]
    assert side.text.count("Feeling tired") == 1
    assert side.text == "Feeling tired\n\nHair loss"


# ---- BEIR corpus.jsonl ----------------------------------------------------------------------------------


def test_beir_title_becomes_heading_and_id_becomes_doc_id():
    lines = [
        {"_id": "doc-1", "title": "Stage 4 sarcoma", "text": "Chemotherapy may be offered."},
        {"_id": "doc-2", "title": "", "text": "Untitled text."},
        {"_id": "doc-3", "title": "Empty", "text": ""},
    ]
    text = "\n".join(json.dumps(d) for d in lines) + "\n\n"
    skipped: list = []
    sections = parse_beir_jsonl(text, source="corpus.jsonl", skipped=skipped)
    assert [(s.doc_id, s.heading_path, s.text) for s in sections] == [
        ("doc-1", ("Stage 4 sarcoma",), "Chemotherapy may be offered."),
        ("doc-2", ("doc-2",), "Untitled text."),
    ]
    assert sections[0].title == "Stage 4 sarcoma"
    assert skipped == [("corpus.jsonl line 3", 'no text (_id "doc-3")')]


@pytest.mark.parametrize("bad", ["{not json", '{"title": "no id", "text": "x"}', "[1, 2]"])
def test_beir_bad_line_raises_corpus_error_naming_the_line_when_nothing_can_report_it(bad):
    text = json.dumps({"_id": "ok", "text": "fine"}) + "\n" + bad + "\n"
    with pytest.raises(CorpusError, match="line 2"):
        parse_beir_jsonl(text, source="corpus.jsonl")


def beir(*docs: dict | str) -> str:
    """corpus.jsonl text: one line per document (a str is written as it is)."""
    return "".join((d if isinstance(d, str) else json.dumps(d)) + "\n" for d in docs)


def test_a_bad_beir_line_is_skipped_by_line_number_and_the_good_lines_are_kept(tmp_path):
    docs: list[dict | str] = [{"_id": f"d{i}", "title": f"Topic {i}", "text": f"Text {i}."} for i in range(6)]
    docs.insert(2, '{"_id": "d9", "text": "cut short')
    root = write_tree(tmp_path / "c", {"corpus.jsonl": beir(*docs), "ok.txt": "Hello there.\n"})
    report = read_corpus(root)
    assert report.documents == 7
    assert sorted(s.doc_id for s in report.sections) == ["d0", "d1", "d2", "d3", "d4", "d5", "ok.txt"]
    assert report.skipped == [("corpus.jsonl line 3", "not valid JSON (Unterminated string starting at column 23)")]


BAD_LINES = {
    "not JSON": (b"{oops", "not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
    "an array": (b"[1, 2]", "not a BEIR document (a JSON array, not an object)"),
    "no _id": (b'{"title": "T", "text": "x"}', "not a BEIR document (no _id)"),
    "null _id": (b'{"_id": null, "text": "x"}', "not a BEIR document (no _id)"),
    "true _id": (b'{"_id": true, "text": "x"}', "not a BEIR document (_id is true)"),
    "text a list": (b'{"_id": "a", "text": ["x"]}', "not a BEIR document (text is a JSON array, not a string)"),
    "latin-1 byte": ('{"_id": "a", "text": "café"}'.encode("latin-1"), "not UTF-8 text (byte 25 of the line)"),
    "raw NUL": (b'{"_id": "a", "text": "x\x00y"}', "not valid JSON (Invalid control character at column 24)"),
    "nested too deep": (b"[" * 100_000, "not valid JSON (a value Python's JSON reader refuses)"),
}


@pytest.mark.parametrize("line, reason", BAD_LINES.values(), ids=BAD_LINES)
def test_each_kind_of_bad_beir_line_is_named_and_costs_only_itself(tmp_path, line, reason):
    first, last = beir({"_id": "a1", "text": "First."}).encode(), beir({"_id": "a2", "text": "Last."}).encode()
    root = write_tree(tmp_path / "c", {"corpus.jsonl": first + line + b"\n" + last})
    report = read_corpus(root)
    assert [s.doc_id for s in report.sections] == ["a1", "a2"]
    assert report.skipped == [("corpus.jsonl line 2", reason)]


def test_a_repeated_beir_id_keeps_the_first_and_is_reported_even_across_files(tmp_path):
    root = write_tree(
        tmp_path / "c",
        {
            "a/corpus.jsonl": beir({"_id": "d1", "text": "First."}, {"_id": "d1", "text": "Second."}),
            "b/corpus.jsonl": beir({"_id": "d1", "text": "Third."}, {"_id": "d2", "text": "Other."}),
        },
    )
    report = read_corpus(root)
    assert [(s.doc_id, s.text) for s in report.sections] == [("d1", "First."), ("d2", "Other.")]
    assert report.documents == 2
    assert report.skipped == [
        ("a/corpus.jsonl line 2", 'duplicate _id ("d1", first at line 1, kept)'),
        ("b/corpus.jsonl line 1", 'duplicate _id ("d1", first at a/corpus.jsonl line 1, kept)'),
    ]


def test_beir_documents_without_text_are_reported(tmp_path):
    corpus = beir({"_id": "a", "title": "Only a title"}, {"_id": "b", "text": "  "}, {"_id": "c", "text": "Kept."})
    report = read_corpus(write_tree(tmp_path / "c", {"corpus.jsonl": corpus}))
    assert [s.doc_id for s in report.sections] == ["c"]
    assert report.skipped == [
        ("corpus.jsonl line 1", 'no text (_id "a")'),
        ("corpus.jsonl line 2", 'no text (_id "b")'),
    ]


def test_a_beir_file_with_no_good_line_is_skipped_after_its_lines(tmp_path):
    root = write_tree(tmp_path / "c", {"corpus.jsonl": "{oops\n", "ok.txt": "Hello there.\n"})
    report = read_corpus(root)
    assert [s.doc_id for s in report.sections] == ["ok.txt"]
    assert [name for name, _ in report.skipped] == ["corpus.jsonl line 1", "corpus.jsonl"]
    assert report.skipped[1] == ("corpus.jsonl", "no document could be indexed")


def test_a_line_separator_inside_a_beir_text_does_not_split_the_line(tmp_path):
    text = "Before\u2028after\x85end."
    root = write_tree(tmp_path / "c", {"corpus.jsonl": json.dumps({"_id": "a", "text": text}, ensure_ascii=False)})
    report = read_corpus(root)
    assert report.skipped == [] and [s.text for s in report.sections] == [text]


# ---- files and folders ----------------------------------------------------------------------------------


def test_sidecar_meta_sets_title_and_publisher(tmp_path):
    root = write_tree(
        tmp_path / "c",
        {
            "leaflet.txt": "Some opening words here.\n\nAfter surgery\n\nRest for a week.\n",
            "leaflet.meta.json": json.dumps({"title": "Your surgery", "publisher": "Example Society"}),
        },
    )
    report = read_corpus(root)
    assert report.documents == 1 and report.skipped == []
    assert [s.heading_path for s in report.sections] == [("Your surgery",), ("Your surgery", "After surgery")]
    assert {(s.title, s.publisher, s.source) for s in report.sections} == {
        ("Your surgery", "Example Society", "leaflet.txt")
    }


def test_unsupported_extension_is_skipped_with_reason(tmp_path):
    root = write_tree(tmp_path / "c", {"a.txt": "Hello there.\n", "slides.pptx": b"PK\x03\x04 binary"})
    report = read_corpus(root)
    assert report.skipped == [("slides.pptx", "unsupported file type")]
    assert [s.doc_id for s in report.sections] == ["a.txt"]


def test_non_utf8_file_is_skipped_with_a_reason_naming_it(tmp_path):
    root = write_tree(
        tmp_path / "c",
        {"good.txt": "Fine text.\n", "sub/latin1.txt": "Café crème brûlée.\n".encode("latin-1")},
    )
    report = read_corpus(root)
    assert [name for name, _ in report.skipped] == ["sub/latin1.txt"]
    reason = report.skipped[0][1]
    assert "latin1.txt" in reason and "UTF-8" in reason
    assert [s.doc_id for s in report.sections] == ["good.txt"]


def test_missing_corpus_raises_corpus_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        read_corpus(tmp_path / "nowhere")


def test_bundled_corpus_reads_into_eleven_sections():
    report = read_corpus(CORPUS)
    assert report.skipped == []
    assert report.documents == 1
    paths = [s.heading_path for s in report.sections]
    assert len(paths) == 11
    assert all(p[0] == TITLE for p in paths)
    assert paths[0] == (TITLE,)
    assert [p[1] for p in paths[1:]] == [
        "Treatments for stage 1 soft tissue sarcoma",
        "Treatments for stages 2 and 3 soft tissue sarcoma",
        "Treatments for stage 4 soft tissue sarcoma",
        "Treatments for recurrent soft tissue sarcoma",
        "Surgery for soft tissue sarcoma",
        "Radiation therapy for soft tissue sarcoma",
        "Chemotherapy for soft tissue sarcoma",
        "Targeted therapy for soft tissue sarcoma",
        "Follow-up after treatment for soft tissue sarcoma",
        "Medical disclaimer",
    ]
    assert {s.publisher for s in report.sections} == {"Canadian Cancer Society"}
    assert report.sections[-1].text.endswith("1-888-939-3333 | | © 2024 Canadian Cancer Society")


def test_windows_line_endings_and_bom_read_like_plain_utf8(tmp_path):
    text = "Guide\n\nOpening words.\n\nPart one\n\nFirst part text.\n"
    root = write_tree(
        tmp_path / "c",
        {"unix.txt": text, "windows.txt": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")},
    )
    sections = read_corpus(root).sections
    unix = [(s.heading_path, s.text) for s in sections if s.doc_id == "unix.txt"]
    windows = [(s.heading_path, s.text) for s in sections if s.doc_id == "windows.txt"]
    assert unix == windows == [(("Guide",), "Opening words."), (("Guide", "Part one"), "First part text.")]


def test_a_50_mb_page_is_skipped_with_its_size_and_the_rest_is_read(tmp_path):
    corpus = write_tree(tmp_path / "corpus", {"ok.txt": "Care\n\nRest\n\nSleep helps your body recover.\n"})
    with open(corpus / "dump.txt", "w", encoding="utf-8") as fh:
        line = "Sarcoma treatment notes repeated for size.\n"
        for _ in range(50 * 2**20 // len(line) + 1):
            fh.write(line)
    report = read_corpus(corpus)
    assert report.documents == 1
    assert report.skipped == [("dump.txt", "50.0 MB, over the 20 MB limit for one file; split it into pages")]


def test_a_large_beir_corpus_has_no_size_limit(tmp_path, monkeypatch):
    from passage_search.ingest import files

    monkeypatch.setattr(files, "MAX_FILE_BYTES", 10)
    corpus = write_tree(tmp_path / "corpus", {"corpus.jsonl": '{"_id": "d1", "title": "Care", "text": "Rest."}\n'})
    assert read_corpus(corpus).documents == 1


def test_links_to_nothing_and_to_folders_above_never_loop(tmp_path):
    corpus = write_tree(tmp_path / "corpus", {"ok.txt": "Care\n\nRest\n\nSleep helps your body recover.\n"})
    (corpus / "sub").mkdir()
    (corpus / "sub" / "up").symlink_to("..")  # a loop if links to folders were followed
    (corpus / "sub" / "gone.txt").symlink_to(tmp_path / "missing.txt")
    report = read_corpus(corpus)
    assert report.documents == 1
    assert report.skipped == [("sub/gone.txt", "a link to nothing (broken symlink)")]


def test_a_file_of_headings_only_is_skipped_with_a_reason(tmp_path):
    corpus = write_tree(tmp_path / "corpus", {"toc.txt": "Title\n\nHeading one\n\nHeading two\n"})
    report = read_corpus(corpus)
    assert report.sections == []
    assert report.skipped == [("toc.txt", "no text under any heading")]


# Root reads any file whatever its mode bits, and CI runs as root: the child that reads the corpus gives
# up the two capabilities that let root ignore them (prctl PR_CAPBSET_DROP before exec), so a mode-000
# file is as unreadable to it as to any other user.
_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 24, 1, 2


def _without_root_overrides() -> None:
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_an_unreadable_file_is_skipped_with_a_reason_and_the_rest_is_read(tmp_path):
    corpus = write_tree(
        tmp_path / "corpus",
        {"ok.txt": "Care\n\nRest\n\nSleep helps your body recover.\n", "locked.md": "# Locked\n\nSecret text.\n"},
    )
    (corpus / "locked.md").chmod(0)
    code = (
        "import json, sys; from passage_search.ingest.readers import read_corpus; r = read_corpus(__import__('pathlib')"
        ".Path(sys.argv[1])); print(json.dumps({'documents': r.documents, 'skipped': r.skipped}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(corpus)],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_without_root_overrides,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {"documents": 1, "skipped": [["locked.md", "cannot be read (Permission denied)"]]}


def test_a_txt_with_nul_bytes_is_skipped_as_binary(tmp_path):
    corpus = write_tree(
        tmp_path / "corpus",
        {"ok.txt": "Care\n\nRest\n\nSleep helps your body recover.\n", "nul.txt": b"Care\n\nRest\x00\x00 well.\n"},
    )
    report = read_corpus(corpus)
    assert report.documents == 1
    assert report.skipped == [("nul.txt", f"{corpus / 'nul.txt'} looks binary (it contains NUL bytes).")]


@pytest.mark.parametrize("content", [b"", b"\n  \n\t\n", b"\xef\xbb\xbf"], ids=["0-bytes", "white-space", "bom"])
def test_an_empty_file_is_skipped_as_empty(tmp_path, content):
    corpus = write_tree(
        tmp_path / "corpus", {"ok.txt": "Care\n\nRest\n\nSleep helps your body recover.\n", "empty.md": content}
    )
    report = read_corpus(corpus)
    assert report.documents == 1
    assert report.skipped == [("empty.md", "the file is empty")]


def test_a_truly_empty_folder_is_refused_in_one_sentence(tmp_path):
    from conftest import FakeEmbedder

    from passage_search.index.build import build_index

    (tmp_path / "corpus").mkdir()
    with pytest.raises(CorpusError) as info:
        build_index(tmp_path / "corpus", tmp_path / "index", embedder=FakeEmbedder())
    message = str(info.value)
    assert message == (
        f"No passages found in {tmp_path / 'corpus'}; add .txt, .md, .html, .pdf, .docx or BEIR corpus.jsonl files."
    )
    assert "\n" not in message and message.count(". ") == 0


def test_a_second_link_to_the_same_file_is_skipped(tmp_path):
    corpus = write_tree(tmp_path / "corpus", {"pages/page.txt": "Care\n\nRest\n\nSleep helps your body recover.\n"})
    (corpus / "a.txt").symlink_to(corpus / "pages" / "page.txt")
    (corpus / "b.txt").symlink_to("pages/page.txt")
    report = read_corpus(corpus)
    assert report.documents == 1
    assert {s.doc_id for s in report.sections} == {"a.txt"}
    assert report.skipped == [
        ("b.txt", "same file as one already read (symlink)"),
        ("pages/page.txt", "same file as one already read (symlink)"),
    ]


def test_a_link_to_a_file_outside_the_corpus_is_skipped(tmp_path):
    outside = write_tree(tmp_path / "elsewhere", {"secret.txt": "Private\n\nNotes\n\nNot for the index.\n"})
    corpus = write_tree(tmp_path / "corpus", {"ok.txt": "Care\n\nRest\n\nSleep helps your body recover.\n"})
    (corpus / "secret.txt").symlink_to(outside / "secret.txt")
    (corpus / "hostname.txt").symlink_to("/etc/hostname")
    (corpus / "up.txt").symlink_to("../elsewhere/secret.txt")
    report = read_corpus(corpus)
    assert [s.doc_id for s in report.sections] == ["ok.txt"]

    def why(target: Path) -> str:
        return f"a link to a file outside the corpus folder ({target.resolve()}); copy the file in to index it"

    skipped = [("secret.txt", why(outside / "secret.txt")), ("up.txt", why(outside / "secret.txt"))]
    if Path("/etc/hostname").is_file():
        skipped.insert(0, ("hostname.txt", why(Path("/etc/hostname"))))
    assert report.skipped[-len(skipped) :] == skipped


def test_a_link_to_a_hidden_file_of_the_corpus_is_skipped_like_the_file(tmp_path):
    corpus = write_tree(tmp_path / "corpus", {".drafts/draft.txt": "Draft\n\nNotes\n\nNot ready yet.\n"})
    (corpus / "draft.txt").symlink_to(".drafts/draft.txt")
    report = read_corpus(corpus)
    assert report.sections == []
    assert report.skipped == [("draft.txt", "a link to a hidden file (hidden files and folders are not read)")]


def test_a_corpus_reached_through_a_link_still_reads_its_own_links(tmp_path):
    real = write_tree(tmp_path / "real", {"pages/page.txt": "Care\n\nRest\n\nSleep helps your body recover.\n"})
    (real / "link.txt").symlink_to(real / "pages" / "page.txt")
    (tmp_path / "corpus").symlink_to(real)
    report = read_corpus(tmp_path / "corpus")
    assert [s.doc_id for s in report.sections] == ["link.txt"]


def test_link_loops_are_skipped_with_a_reason_not_a_hang(tmp_path):
    corpus = write_tree(tmp_path / "corpus", {"ok.txt": "Care\n\nRest\n\nSleep helps your body recover.\n"})
    (corpus / "self.txt").symlink_to("self.txt")
    (corpus / "a.md").symlink_to("b.md")
    (corpus / "b.md").symlink_to("a.md")
    (corpus / "dir").symlink_to("dir")  # a folder that is a loop
    report = read_corpus(corpus)
    assert [s.doc_id for s in report.sections] == ["ok.txt"]
    loop = "a link that leads round in a loop (symlink loop)"
    assert report.skipped == [("a.md", loop), ("b.md", loop), ("dir", loop), ("self.txt", loop)]


def test_a_named_pipe_is_skipped_not_waited_on(tmp_path):
    corpus = write_tree(tmp_path / "corpus", {"ok.txt": "Care\n\nRest\n\nSleep helps your body recover.\n"})
    os.mkfifo(corpus / "pipe.txt")
    report = read_corpus(corpus)
    assert [s.doc_id for s in report.sections] == ["ok.txt"]
    assert report.skipped == [("pipe.txt", "not a regular file (a pipe, socket or device)")]


# ---- a source address per document, and per heading where the format gives an anchor ---------------------------

SITE = "https://example.org/sarcoma/treatment"


def test_the_sidecar_url_is_every_section_url_of_a_plain_text_file(tmp_path):
    root = write_tree(
        tmp_path / "c",
        {
            "leaflet.txt": "Some opening words here.\n\nAfter surgery\n\nRest for a week.\n",
            "leaflet.meta.json": json.dumps({"title": "Your surgery", "url": SITE}),
            "other.txt": "No address for this one.\n",
        },
    )
    report = read_corpus(root)
    assert report.skipped == []
    assert {s.doc_id: s.url for s in report.sections} == {"leaflet.txt": SITE, "other.txt": ""}
    assert len([s for s in report.sections if s.url == SITE]) == 2


def test_the_bundled_page_links_to_the_publishers_page():
    report = read_corpus(CORPUS)
    assert {s.url for s in report.sections} == {
        "https://cancer.ca/en/cancer-information/cancer-types/soft-tissue-sarcoma/treatment"
    }


def test_markdown_explicit_anchors_give_section_urls_and_leave_the_heading_text():
    text = """# Treatments {#top}

Opening words.

## Surgery {#surgery .wide}

Surgery text.

### After surgery

Rest for a week.

## Radiation therapy

Radiation text.

## Questions about C# {#faq}

Ask your team.
"""
    sections = by_path(parse_md(text, doc_id="t.md", source="t.md", url=SITE + "#old"))
    assert {path: s.url for path, s in sections.items()} == {
        ("Treatments",): SITE + "#top",
        ("Treatments", "Surgery"): SITE + "#surgery",
        ("Treatments", "Surgery", "After surgery"): SITE + "#surgery",  # the nearest anchored heading above
        ("Treatments", "Radiation therapy"): SITE + "#top",
        ("Treatments", "Questions about C#"): SITE + "#faq",
    }
    # Without a document address an anchor leads nowhere: no url at all.
    assert {s.url for s in parse_md(text, doc_id="t.md", source="t.md")} == {""}


HTML_ANCHORS = """<html><body>
<h1 id="page">Sarcoma</h1><p>Intro.</p>
<section id="surgery"><h2>Surgery</h2><p>Surgery text.</p>
  <h3>Recovery</h3><p>Recovery text.</p></section>
<h2><a name="radiation"></a>Radiation</h2><p>Radiation text.</p>
<div id="wrapper"><h2>Chemotherapy</h2><p>Chemo text.</p><h2>Follow-up</h2><p>Follow-up text.</p></div>
</body></html>"""


def test_html_anchors_come_from_heading_ids_names_and_the_section_they_open():
    sections = by_path(parse_html(HTML_ANCHORS, doc_id="p.html", source="p.html", url=SITE))
    assert {path[-1]: s.url for path, s in sections.items()} == {
        "Sarcoma": SITE + "#page",
        "Surgery": SITE + "#surgery",
        "Recovery": SITE + "#surgery",
        "Radiation": SITE + "#radiation",
        "Chemotherapy": SITE + "#wrapper",  # the first heading of the element with the id
        "Follow-up": SITE + "#page",  # not the wrapper's first heading: the nearest anchored heading above
    }


def test_an_anchor_is_percent_encoded_in_the_url():
    page = '<h1 id="risks &amp; side effects">Risks</h1><p>Text.</p>'
    [section] = parse_html(page, doc_id="p.html", source="p.html", url=SITE)
    assert section.url == SITE + "#risks%20&%20side%20effects"


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "file:///etc/passwd", "/relative/page", "https://", "https://a b.org/", 5, True]
)
def test_a_sidecar_url_that_is_no_web_address_skips_the_file_with_the_reason(tmp_path, url):
    root = write_tree(
        tmp_path / "c",
        {"a.txt": "Text of a.\n", "a.meta.json": json.dumps({"url": url}), "b.txt": "Text of b.\n"},
    )
    report = read_corpus(root)
    assert [s.doc_id for s in report.sections] == ["b.txt"]
    [(name, reason)] = report.skipped
    assert name == "a.txt" and "url in a.meta.json must be an http:// or https:// address" in reason


@pytest.mark.parametrize("url", [None, ""])
def test_a_sidecar_url_that_is_null_or_empty_means_no_address(tmp_path, url):
    root = write_tree(tmp_path / "c", {"a.txt": "Text of a.\n", "a.meta.json": json.dumps({"url": url})})
    report = read_corpus(root)
    assert report.skipped == [] and [s.url for s in report.sections] == [""]


def test_a_beir_line_carries_its_url_and_a_bad_one_costs_only_its_line(tmp_path):
    corpus = beir(
        {"_id": "a", "title": "A", "text": "First.", "url": SITE},
        {"_id": "b", "title": "B", "text": "Second.", "url": "javascript:alert(1)"},
        {"_id": "c", "title": "C", "text": "Third.", "url": ["x"]},
        {"_id": "d", "title": "D", "text": "Fourth."},
    )
    report = read_corpus(write_tree(tmp_path / "c", {"corpus.jsonl": corpus}))
    assert [(s.doc_id, s.url) for s in report.sections] == [("a", SITE), ("d", "")]
    assert [(name, reason.split(" (")[0]) for name, reason in report.skipped] == [
        ("corpus.jsonl line 2", "not a BEIR document"),
        ("corpus.jsonl line 3", "not a BEIR document"),
    ]
    assert "url must be an http:// or https:// address" in report.skipped[0][1]


def test_passages_carry_their_section_url_and_a_new_url_splits_the_document_again(tmp_path):
    from conftest import FakeEmbedder

    from passage_search.ingest.splitter import document_key, make_passages

    sections = parse_html(HTML_ANCHORS, doc_id="p.html", source="p.html", url=SITE)
    embedder = FakeEmbedder(max_tokens=8)
    passages = make_passages(sections, count_tokens=embedder.count_tokens, max_tokens=embedder.max_tokens)
    assert {p.heading_path[-1]: p.url for p in passages}["Radiation"] == SITE + "#radiation"
    assert all(p.url == next(s.url for s in sections if s.heading_path == p.heading_path) for p in passages)
    moved = parse_html(HTML_ANCHORS, doc_id="p.html", source="p.html", url="https://example.org/moved")
    assert document_key(sections, {}) != document_key(moved, {})
    # A document without an address keeps the key earlier builds gave it.
    plain = parse_html(HTML_ANCHORS, doc_id="p.html", source="p.html")
    assert document_key(plain, {}) == document_key([replace(s, url="") for s in sections], {})


def test_a_pdf_address_points_each_section_at_its_first_page(tmp_path):
    from test_documents import LEAFLET, make_pdf

    from passage_search.ingest.pdf import read_pdf

    pdf = make_pdf(tmp_path / "leaflet.pdf", LEAFLET)
    pages = {s.heading_path[-1]: s.url for s in read_pdf(pdf, doc_id="leaflet.pdf", url=SITE + ".pdf")}
    assert pages["Surgery"] == SITE + ".pdf#page=1" and pages["Radiation therapy"] == SITE + ".pdf#page=2"
    # An address that is not the PDF itself (the web version of the leaflet) gets no page number.
    assert {s.url for s in read_pdf(pdf, doc_id="leaflet.pdf", url=SITE)} == {SITE}
