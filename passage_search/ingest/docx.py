"""Word (.docx) reader: headings from the built-in Title and Heading 1-6 styles, nested into a path.

Paragraphs are body text, a list's items stay one per line, and a table's rows become lines of their cells
("cell | cell"), all in document order. A .docx has no fixed pages, so the source is the file name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from passage_search.errors import CorpusError
from passage_search.ingest.section import Section, under_headings

if TYPE_CHECKING:
    from docx.document import Document
    from docx.styles.style import CharacterStyle
    from docx.table import Table
    from docx.text.paragraph import Paragraph

DAMAGED = "is damaged or not a Word .docx file ({detail}); save it again from Word."
# Word saves an encrypted .docx (and an old .doc) as an OLE compound file, not a zip package.
LOCKED = "is password-protected or an old Word .doc, not a .docx; save an unprotected .docx copy."
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING = re.compile(r"heading ([1-6])")


def read_docx(path: Path, *, doc_id: str, title: str = "", publisher: str = "", url: str = "") -> list[Section]:
    """Sections of the .docx at ``path``, each with the document's ``url``; raises CorpusError naming why it
    cannot be read."""
    document = _open(path)
    try:
        items = _items(document)
        core_title = document.core_properties.title or ""
    except Exception as exc:  # python-docx and lxml raise many kinds on a damaged part
        raise CorpusError(f"{path} {DAMAGED.format(detail=_brief(exc))}") from exc
    headings = [it for it in items if isinstance(it, tuple) and it[1]]
    found = next((h for lvl, h in headings if lvl == 0), "") or next((h for lvl, h in headings if lvl == 1), "")
    title = title or found or " ".join(core_title.split()) or doc_id
    return _sections(items, doc_id=doc_id, source=path.name, title=title, publisher=publisher, url=url)


def _open(path: Path) -> Document:
    import docx  # imported here: only corpora with Word files pay for python-docx and lxml

    try:
        return docx.Document(str(path))
    except Exception as exc:  # not a zip, a missing part, broken XML: each its own exception type
        with open(path, "rb") as fh:
            locked = fh.read(len(_OLE_MAGIC)) == _OLE_MAGIC
        raise CorpusError(f"{path} {LOCKED if locked else DAMAGED.format(detail=_brief(exc))}") from exc


def _brief(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 100 else text[:97] + "..."


def _styles(style: CharacterStyle | None) -> list[str]:
    """The style's name and those it is based on (a custom "Leaflet heading" based on "Heading 2" counts)."""
    names: list[str] = []
    while style is not None and len(names) < 10:
        names.append((style.name or "").strip().lower())
        style = style.base_style
    return names


def heading_level(paragraph: Paragraph) -> int | None:
    """0 for the Title style, 1-6 for Heading 1-6, None for any other paragraph."""
    for name in _styles(paragraph.style):
        if name == "title":
            return 0
        if match := _HEADING.fullmatch(name):
            return int(match.group(1))
    return None


def _is_list_item(paragraph: Paragraph) -> bool:
    ppr = paragraph._p.pPr
    # Numbered in the paragraph itself, or by a list style ("List Bullet", "List Number", "List Paragraph").
    return (ppr is not None and ppr.numPr is not None) or any(n.startswith("list") for n in _styles(paragraph.style))


def table_text(table: Table) -> str:
    """One line per row, its cells' text joined by " | "; a merged cell counts once, empty cells not at all."""
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = " ".join(cell.text.split())
            if text:
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _items(document: Document) -> list[tuple[int, str] | str]:
    """Headings as (level, text) and body blocks as text, in document order; list items share a block."""
    from docx.table import Table

    items: list[tuple[int, str] | str] = []
    in_list = False
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            text, in_list = table_text(block), False
            if text:
                items.append(text)
            continue
        text = block.text.strip()
        level = heading_level(block)
        if level is not None:
            items.append((level, " ".join(text.split())))
            in_list = False
        elif not text:
            in_list = False  # an empty paragraph ends a list
        elif _is_list_item(block):
            if in_list and isinstance(items[-1], str):
                items[-1] = f"{items[-1]}\n{text}"
            else:
                items.append(text)
            in_list = True
        else:
            items.append(text)
            in_list = False
    return items


def _sections(
    items: list[tuple[int, str] | str], *, doc_id: str, source: str, title: str, publisher: str, url: str = ""
) -> list[Section]:
    grouped = under_headings(items, title)
    return [Section(doc_id, title, path, "\n\n".join(body), source, publisher, url) for path, body in grouped]
