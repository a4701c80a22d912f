"""PDF and Word readers: heading paths, verbatim text, page numbers, skip reasons, and a build that finds them.

Every file is generated here (reportlab for PDFs, python-docx for Word files): no binary fixtures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import FakeEmbedder, write_tree

from passage_search.errors import CorpusError
from passage_search.index.build import build_index
from passage_search.ingest.docx import read_docx
from passage_search.ingest.pdf import read_pdf
from passage_search.ingest.readers import read_corpus
from passage_search.search.searcher import Searcher

# The reasons a build summary gives, spelled out here so that a change to them is a visible decision.
NO_TEXT = "has no text layer (a scanned image?); add a text version."
LOCKED_PDF = "is password-protected (encrypted); add an unprotected copy."

BODY = 11
# One page is a list of (font size, text, bold); a None size is extra space (points) before the next line.
Page = list[tuple[float | None, str, bool]]

LEAFLET: list[Page] = [
    [
        (22, "Living with sarcoma", True),
        (BODY, "This leaflet explains the treatment you may be offered.", False),
        (16, "Surgery", True),
        (BODY, "Surgery removes the tumour with a margin of healthy", False),
        (BODY, "tissue. Limb-sparing surgery keeps the arm or leg. The sur-", False),
        (BODY, "geon explains the risks, and the self-", False),
        (BODY, "care you need, before the operation.", False),
        (None, "8", False),
        (BODY, "Most people go home within a week.", False),
        (13, "After surgery", True),
        (BODY, "Keep the wound clean and dry. A nurse checks it after a", False),
    ],
    [
        (BODY, "few days at a follow-up visit.", False),
        (16, "Radiation therapy", True),
        (BODY, "Radiation therapy uses high-energy rays to destroy cancer cells.", False),
        (BODY, "• It is given on weekdays for five weeks.", False),
        (BODY, "• Each visit takes about 15 minutes.", False),
    ],
]
TITLE = "Living with sarcoma"
SURGERY = (
    "Surgery removes the tumour with a margin of healthy tissue. Limb-sparing surgery keeps the arm or leg. "
    "The surgeon explains the risks, and the self-care you need, before the operation.\n\n"
    "Most people go home within a week."
)
AFTER = "Keep the wound clean and dry. A nurse checks it after a few days at a follow-up visit."
RADIATION = (
    "Radiation therapy uses high-energy rays to destroy cancer cells.\n"
    "• It is given on weekdays for five weeks.\n• Each visit takes about 15 minutes."
)


def make_pdf(
    path: Path,
    pages: list[Page],
    *,
    outline: Sequence[tuple[str, int, int, str]] = (),
    running: bool = True,
    header: str = "Example Health Society | Patient leaflet",
    footer: str = "Page {number} of {pages}",
) -> Path:
    """Write ``pages`` with a running header and footer; ``outline``: (title, page, level, first words)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    placed: set[int] = set()
    for number, lines in enumerate(pages, 1):
        if running:
            pdf.setFont("Helvetica", 8)
            pdf.drawString(72, 810, header)
            pdf.drawString(72, 30, footer.format(number=number, pages=len(pages)))
        y = 760.0
        for size, text, bold in lines:
            if size is None:
                y -= float(text)
                continue
            for key, (title, page, level, words) in enumerate(outline):
                if page == number and text.startswith(words) and key not in placed:
                    placed.add(key)
                    # An XYZ destination just above the line, as word processors write them.
                    pdf.bookmarkHorizontal(f"b{key}", 0, y + size)
                    pdf.addOutlineEntry(title, f"b{key}", level=level)
            pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
            pdf.drawString(72, y, text)
            y -= size * 1.3
        pdf.showPage()
    pdf.save()
    return path


def sections_of(path: Path, **meta: str):
    return {s.heading_path: s for s in read_pdf(path, doc_id=path.name, **meta)}


# ---- PDF: headings by font size -------------------------------------------------------------------------


def test_pdf_headings_by_font_size_nest_by_size(tmp_path):
    got = sections_of(make_pdf(tmp_path / "leaflet.pdf", LEAFLET))
    assert list(got) == [
        (TITLE,),
        (TITLE, "Surgery"),
        (TITLE, "Surgery", "After surgery"),
        (TITLE, "Radiation therapy"),
    ]
    assert all(s.title == TITLE and s.doc_id == "leaflet.pdf" for s in got.values())


def test_pdf_text_is_verbatim_with_paragraphs_hyphens_and_bullets(tmp_path):
    got = sections_of(make_pdf(tmp_path / "leaflet.pdf", LEAFLET))
    assert got[(TITLE,)].text == "This leaflet explains the treatment you may be offered."
    # "sur-geon" is one word broken by layout; "self-care" keeps its hyphen ("self" is a prefix that takes one).
    assert got[(TITLE, "Surgery")].text == SURGERY
    # The sentence running over the page break stays one paragraph, without the footer and header between.
    assert got[(TITLE, "Surgery", "After surgery")].text == AFTER
    assert got[(TITLE, "Radiation therapy")].text == RADIATION


def test_pdf_line_end_hyphen_stays_in_a_compound_the_document_writes_whole(tmp_path):
    page = [(16, "Surgery", True), (BODY, "Ask about limb-sparing surgery. Not every limb-", False),
            (BODY, "sparing operation suits every tumour; some are remo-", False), (BODY, "ved whole.", False)]
    got = sections_of(make_pdf(tmp_path / "hyphens.pdf", [page], running=False))
    assert got[("Surgery",)].text == (
        "Ask about limb-sparing surgery. Not every limb-sparing operation suits every tumour; some are removed whole."
    )


def test_pdf_source_names_the_page_or_pages(tmp_path):
    got = sections_of(make_pdf(tmp_path / "leaflet.pdf", LEAFLET))
    assert [s.source for s in got.values()] == [
        "leaflet.pdf, p. 1", "leaflet.pdf, p. 1", "leaflet.pdf, pp. 1-2", "leaflet.pdf, p. 2"
    ]


def test_pdf_running_header_and_footer_are_dropped(tmp_path):
    text = " ".join(s.text for s in sections_of(make_pdf(tmp_path / "leaflet.pdf", LEAFLET)).values())
    assert "Example Health Society" not in text and "Page 1" not in text and "of 2" not in text


def test_pdf_without_running_lines_reads_the_same(tmp_path):
    plain = sections_of(make_pdf(tmp_path / "leaflet.pdf", LEAFLET, running=False))
    assert {p: s.text for p, s in plain.items()} == {
        p: s.text for p, s in sections_of(make_pdf(tmp_path / "l2.pdf", LEAFLET)).items()
    }


def test_pdf_running_header_that_repeats_the_title_keeps_the_title(tmp_path):
    got = sections_of(make_pdf(tmp_path / "leaflet.pdf", LEAFLET, header=TITLE, footer="{number}"))
    assert list(got)[:2] == [(TITLE,), (TITLE, "Surgery")]
    assert got[(TITLE, "Surgery", "After surgery")].text == AFTER  # the bare page numbers are gone too


def test_pdf_page_number_alone_is_dropped_even_on_one_page(tmp_path):
    page = [(16, "Radiation therapy", True), (BODY, "It is given on weekdays.", False)]
    got = sections_of(make_pdf(tmp_path / "one.pdf", [page], header="", footer="- {number} -"))
    assert [(s.heading_path, s.text) for s in got.values()] == [(("Radiation therapy",), "It is given on weekdays.")]


# ---- PDF: headings from the outline ---------------------------------------------------------------------


def flat(pages: list[Page]) -> list[Page]:
    """The same pages with every heading set in the body's size: only an outline can find them."""
    return [[(BODY if size else None, text, bold) for size, text, bold in page] for page in pages]


OUTLINE = [
    ("Surgery", 1, 0, "Surgery"),
    ("After surgery", 1, 1, "After surgery"),
    ("Radiation therapy", 2, 0, "Radiation therapy"),
    # An entry whose words are not on the page: it starts at its destination, before "• It is given".
    ("How often", 2, 1, "• It is given"),
]


def test_pdf_outline_gives_nested_heading_paths(tmp_path):
    pages = flat(LEAFLET)
    pages[0][0] = (22, TITLE, True)  # a title in large type before the first bookmark
    got = sections_of(make_pdf(tmp_path / "leaflet.pdf", pages, outline=OUTLINE))
    assert list(got) == [
        (TITLE,),
        (TITLE, "Surgery"),
        (TITLE, "Surgery", "After surgery"),
        (TITLE, "Radiation therapy"),
        (TITLE, "Radiation therapy", "How often"),
    ]
    assert got[(TITLE, "Surgery")].text == SURGERY
    assert got[(TITLE, "Surgery", "After surgery")].text == AFTER
    assert got[(TITLE, "Surgery", "After surgery")].source == "leaflet.pdf, pp. 1-2"
    assert got[(TITLE, "Radiation therapy")].text == "Radiation therapy uses high-energy rays to destroy cancer cells."
    assert got[(TITLE, "Radiation therapy", "How often")].text == RADIATION.split("\n", 1)[1]
    assert got[(TITLE, "Radiation therapy", "How often")].source == "leaflet.pdf, p. 2"


def test_pdf_outline_wins_over_font_sizes(tmp_path):
    outline = [("Treatment", 1, 0, "Surgery"), ("Radiation therapy", 2, 0, "Radiation therapy")]
    got = sections_of(make_pdf(tmp_path / "leaflet.pdf", flat(LEAFLET), outline=outline))
    # "Surgery" is not a bookmark title, so its line starts the "Treatment" section as text.
    assert [p[1:] for p in got] == [(), ("Treatment",), ("Radiation therapy",)]
    assert list(got.values())[1].text.startswith("Surgery\n\nSurgery removes the tumour")


def test_pdf_outline_title_matches_a_numbered_heading_line(tmp_path):
    pages = [[(22, TITLE, True), (14, "1. Surgery", True), (BODY, "Surgery removes the tumour.", False),
              (14, "2. Radiation therapy", True), (BODY, "Radiation uses high-energy rays.", False)]]
    outline = [("Surgery", 1, 0, "1. Surgery"), ("Radiation therapy", 1, 0, "2. Radiation")]
    got = sections_of(make_pdf(tmp_path / "numbered.pdf", pages, outline=outline, running=False))
    assert {p: s.text for p, s in got.items()} == {
        (TITLE, "Surgery"): "Surgery removes the tumour.",
        (TITLE, "Radiation therapy"): "Radiation uses high-energy rays.",
    }


def test_pdf_sidecar_metadata_gives_title_and_publisher(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_pdf(corpus / "leaflet.pdf", LEAFLET)
    (corpus / "leaflet.meta.json").write_text(
        json.dumps({"title": "Sarcoma treatment", "publisher": "Example Health Society"}), "utf-8"
    )
    report = read_corpus(corpus)
    assert report.skipped == []
    assert {(s.title, s.publisher) for s in report.sections} == {("Sarcoma treatment", "Example Health Society")}
    assert report.sections[1].heading_path == ("Sarcoma treatment", TITLE, "Surgery")


# ---- PDF: what is skipped, and why ----------------------------------------------------------------------


def encrypted(source: Path, target: Path, password: str) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=source)
    writer.encrypt(password, owner_password="owner-secret")
    writer.write(target)
    return target


def scanned(path: Path) -> Path:
    """A PDF whose page is only an image (a filled shape): no text to extract."""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    pdf.rect(72, 72, 400, 600, fill=1)
    pdf.showPage()
    pdf.save()
    return path


def test_pdf_skip_reasons(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good = make_pdf(corpus / "good.pdf", LEAFLET)
    encrypted(good, corpus / "locked.pdf", "secret")
    scanned(corpus / "scan.pdf")
    (corpus / "garbage.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    (corpus / "truncated.pdf").write_bytes(good.read_bytes()[:600])
    (corpus / "empty.pdf").write_bytes(b"")
    with open(corpus / "huge.pdf", "wb") as fh:
        fh.truncate(40 * 2**20)  # a sparse 40 MB file: only its size is looked at
    skipped = dict(read_corpus(corpus).skipped)
    assert skipped["locked.pdf"] == f"{corpus / 'locked.pdf'} {LOCKED_PDF}"
    assert skipped["scan.pdf"] == f"{corpus / 'scan.pdf'} {NO_TEXT}"
    for name in ("garbage.pdf", "truncated.pdf"):
        assert skipped[name].startswith(f"{corpus / name} is damaged or not a PDF (")
        assert skipped[name].endswith("); export it again from its source.")
    assert skipped["empty.pdf"] == "the file is empty"
    assert skipped["huge.pdf"] == "40.0 MB, over the 20 MB limit for one file; split it into pages"
    assert set(skipped) == {"locked.pdf", "scan.pdf", "garbage.pdf", "truncated.pdf", "empty.pdf", "huge.pdf"}


def test_pdf_locked_only_against_changes_is_read(tmp_path):
    # An owner password alone restricts editing; the empty user password opens the file for reading.
    path = encrypted(make_pdf(tmp_path / "leaflet.pdf", LEAFLET), tmp_path / "protected.pdf", "")
    assert sections_of(path)[(TITLE, "Surgery")].text == SURGERY


def test_read_pdf_raises_a_corpus_error(tmp_path):
    with pytest.raises(CorpusError, match="has no text layer"):
        read_pdf(scanned(tmp_path / "scan.pdf"), doc_id="scan.pdf")


# ---- DOCX -----------------------------------------------------------------------------------------------


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_paragraph("Eating well during treatment", style="Title")
    document.add_paragraph("Good nutrition helps you cope with treatment.")
    document.add_heading("Appetite", level=1)
    document.add_paragraph("Small, frequent meals help when your appetite is poor.\nEat slowly.")
    document.add_paragraph("Add protein to every meal", style="List Bullet")
    document.add_paragraph("Drink between meals, not with them", style="List Bullet")
    document.add_paragraph("Ask for a dietitian if you lose weight.")
    document.add_heading("Nausea", level=2)
    table = document.add_table(rows=3, cols=2)
    for row, cells in enumerate([("Food", "Why it helps"), ("Ginger tea", "Eases nausea"), ("Dry crackers", "")]):
        for col, text in enumerate(cells):
            table.cell(row, col).text = text
    document.add_paragraph("Tell your nurse if nausea lasts more than a day.")
    document.add_heading("Empty heading", level=1)
    document.add_heading("Drinks", level=1)
    document.add_paragraph("Water and broth keep you hydrated.")
    document.save(str(path))
    return path


DOC_TITLE = "Eating well during treatment"


def test_docx_headings_text_lists_and_tables(tmp_path):
    path = make_docx(tmp_path / "diet.docx")
    assert b"\x00" in path.read_bytes()  # binary, yet read: NUL bytes only rule out text files
    got = {s.heading_path: s for s in read_docx(path, doc_id="diet.docx")}
    assert list(got) == [
        (DOC_TITLE,),
        (DOC_TITLE, "Appetite"),
        (DOC_TITLE, "Appetite", "Nausea"),
        (DOC_TITLE, "Drinks"),
    ]
    assert got[(DOC_TITLE,)].text == "Good nutrition helps you cope with treatment."
    assert got[(DOC_TITLE, "Appetite")].text == (
        "Small, frequent meals help when your appetite is poor.\nEat slowly.\n\n"
        "Add protein to every meal\nDrink between meals, not with them\n\n"
        "Ask for a dietitian if you lose weight."
    )
    assert got[(DOC_TITLE, "Appetite", "Nausea")].text == (
        "Food | Why it helps\nGinger tea | Eases nausea\nDry crackers\n\n"
        "Tell your nurse if nausea lasts more than a day."
    )
    assert {(s.source, s.title, s.doc_id) for s in got.values()} == {("diet.docx", DOC_TITLE, "diet.docx")}


def test_docx_without_a_title_style_takes_the_first_heading_1(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Your surgery", level=1)
    document.add_paragraph("Do not eat after midnight.")
    document.add_heading("Going home", level=1)
    document.add_paragraph("Someone should drive you home.")
    document.save(str(tmp_path / "surgery.docx"))
    got = read_docx(tmp_path / "surgery.docx", doc_id="surgery.docx", publisher="Example Society")
    assert [s.heading_path for s in got] == [("Your surgery",), ("Your surgery", "Going home")]
    assert {s.publisher for s in got} == {"Example Society"}


def test_docx_skip_reasons(tmp_path):
    import docx

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_docx(corpus / "good.docx")
    (corpus / "broken.docx").write_bytes((corpus / "good.docx").read_bytes()[:300])
    (corpus / "locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    headings_only = docx.Document()
    headings_only.add_heading("Contents", level=1)
    headings_only.save(str(corpus / "toc.docx"))
    with open(corpus / "huge.docx", "wb") as fh:
        fh.truncate(40 * 2**20)
    report = read_corpus(corpus)
    skipped = dict(report.skipped)
    assert skipped["broken.docx"].startswith(f"{corpus / 'broken.docx'} is damaged or not a Word .docx file (")
    assert skipped["broken.docx"].endswith("); save it again from Word.")
    assert skipped["locked.docx"] == (
        f"{corpus / 'locked.docx'} is password-protected or an old Word .doc, not a .docx; "
        "save an unprotected .docx copy."
    )
    assert skipped["toc.docx"] == "no text under any heading"
    assert skipped["huge.docx"] == "40.0 MB, over the 20 MB limit for one file; split it into pages"
    assert set(skipped) == {"broken.docx", "locked.docx", "toc.docx", "huge.docx"}
    assert {s.doc_id for s in report.sections} == {"good.docx"}


# ---- end to end -----------------------------------------------------------------------------------------


def test_build_and_search_find_a_pdf_passage_with_its_page(tmp_path):
    corpus = write_tree(tmp_path / "corpus", {"notes.md": "# Notes\n\nBring a list of your medicines.\n"})
    make_pdf(corpus / "leaflet.pdf", LEAFLET)
    make_docx(corpus / "diet.docx")
    scanned(corpus / "scan.pdf")
    result = build_index(corpus, tmp_path / "index", embedder=FakeEmbedder())
    assert result.documents == 3
    assert result.skipped == [("scan.pdf", f"{corpus / 'scan.pdf'} {NO_TEXT}")]
    searcher = Searcher(tmp_path / "index", embedder=FakeEmbedder())
    for mode in ("dense", "lexical", "hybrid"):
        top = searcher.search("nurse checks the wound at a follow-up visit", k=3, mode=mode)[0].passage
        assert (top.doc_id, top.source) == ("leaflet.pdf", "leaflet.pdf, pp. 1-2"), mode
        assert top.heading_path == (TITLE, "Surgery", "After surgery")
        assert top.text == AFTER
    ginger = searcher.search("ginger tea for nausea", k=1, mode="lexical")[0].passage
    assert (ginger.source, ginger.heading_path[-1]) == ("diet.docx", "Nausea")
