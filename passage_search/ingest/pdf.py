"""PDF reader: text lines from pypdf, headings from the outline or from font size, page numbers kept.

Each section's source names its pages ("leaflet.pdf, p. 3", "leaflet.pdf, pp. 3-4"). Lines repeated at the
top or bottom of most pages (running headers, page footers) are dropped; paragraphs are recovered from the
vertical gaps between lines and changes of font, and words hyphenated across a line break are joined.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from passage_search.errors import CorpusError
from passage_search.ingest.section import Section, section_url, under_headings

if TYPE_CHECKING:
    from pypdf import PdfReader

NO_TEXT = "has no text layer (a scanned image?); add a text version."
ENCRYPTED = "is password-protected (encrypted); add an unprotected copy."
NEEDS_CRYPTOGRAPHY = "is encrypted with AES, which needs the cryptography package to read; add an unprotected copy."
DAMAGED = "is damaged or not a PDF ({detail}); export it again from its source."

_BULLET = re.compile(r"^(?:[•◦▪▫●○■□‣⁃–—-]|\d{1,2}[.)]|[a-z][.)])\s")
_WORD = re.compile(r"\w+(?:-\w+)*")
_NUMBERED = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[A-Z]\.)\s+")  # "2.1 " before a heading's words
_FOLIO = re.compile(r"[-–— ]*(?:page )?#(?: (?:of|/) #)?[-–— ]*")  # a page number, digits already made "#"
# Line-end hyphens after these stay: "self-\ncare" is "self-care", not "selfcare".
_PREFIXES = {"self", "non", "ex", "well", "all", "cross", "half", "long", "short", "high", "low", "follow"}

OutlineEntry = tuple[int, str, int, float | None]  # level, title, 1-based page, top of the target or None


@dataclass(frozen=True)
class Line:
    text: str
    size: float  # effective font size in points, rounded to 0.5: that of most of the line's characters
    y: float | None  # baseline height on the page; None when pypdf gave no position
    page: int  # 1-based
    font: str = ""  # the font most of the line is set in ("/Helvetica-Bold")


Item = tuple[int, str] | Line  # a heading (level, text) or a line of body text


def read_pdf(path: Path, *, doc_id: str, title: str = "", publisher: str = "", url: str = "") -> list[Section]:
    """Sections of the PDF at ``path``; raises CorpusError naming why it cannot be read.

    ``url``: the document's address; when it is a PDF's (its path ends in .pdf), each section's points at the
    section's first page (``#page=3``, the PDF open parameter browsers' viewers follow).
    """
    lines, outline = _load(path)
    if not lines:
        raise CorpusError(f"{path} {NO_TEXT}")
    lines = drop_running_lines(lines)
    body = max({ln.size for ln in lines}, key=lambda s: sum(len(ln.text) for ln in lines if ln.size == s), default=0.0)
    if outline:
        items, found = outline_items(lines, outline, body)
    else:
        items = font_items(lines, body)
        found = next((it[1] for it in items if isinstance(it, tuple) and it[0] == 1), "")
    return _sections(items, lines, doc_id=doc_id, name=path.name, title=title or found or doc_id, publisher=publisher,
                     url=url)


def _load(path: Path) -> tuple[list[Line], list[OutlineEntry]]:
    from pypdf import PdfReader  # imported here: only corpora with PDFs pay for it
    from pypdf.errors import DependencyError

    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.CRITICAL)  # it logs each flaw it repairs; a build's summary is what counts
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(path)
            # Many leaflets are "protected" by an owner password only: the empty user password opens them.
            if reader.is_encrypted and not reader.decrypt(""):
                raise CorpusError(f"{path} {ENCRYPTED}")
            lines = [line for number, page in enumerate(reader.pages, 1) for line in _page_lines(page, number)]
            return lines, _outline(reader)
    except CorpusError:
        raise
    except DependencyError as exc:
        raise CorpusError(f"{path} {NEEDS_CRYPTOGRAPHY}") from exc
    except Exception as exc:  # pypdf raises many kinds (PdfReadError, KeyError, ValueError) on damaged bytes
        detail = " ".join(str(exc).split())[:100] or type(exc).__name__
        raise CorpusError(f"{path} {DAMAGED.format(detail=detail)}") from exc
    finally:
        pypdf_log.setLevel(level)


def _page_lines(page: Any, number: int) -> list[Line]:
    """The page's text lines in content order, each with its font size, font and baseline height."""
    lines: list[Line] = []
    parts: list[str] = []
    styles = Counter[tuple[float, str]]()
    y: float | None = None

    def end_line() -> None:
        # WinAnsiEncoding draws unused codes as a bullet (PDF 1.7, D.2); pypdf gives 0x7F back as itself.
        text = " ".join("".join(parts).replace("\x7f", "•").split())
        if text:
            size, font = styles.most_common(1)[0][0] if styles else (0.0, "")
            lines.append(Line(text, size, y, number, font))
        parts.clear()
        styles.clear()

    def visit(text: str, cm: list[float], tm: list[float], font: Any, font_size: float) -> None:
        nonlocal y
        # The text-space scale (text matrix times page matrix) turns "Tf 1" into the size a reader sees.
        c, d = tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3]
        size = round(abs(font_size) * math.hypot(c, d) * 2) / 2
        name = str(font.get("/BaseFont", "")) if isinstance(font, dict) else ""
        for k, piece in enumerate(text.split("\n")):
            if k:
                end_line()
            if piece.strip():
                if not "".join(parts).strip():
                    y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5] if k == 0 else None
                styles[size, name] += len(piece.strip())
            parts.append(piece)

    page.extract_text(visitor_text=visit)
    end_line()
    return lines


def _outline(reader: PdfReader) -> list[OutlineEntry]:
    """The outline (bookmarks) in order, nested lists as deeper levels; [] when there is none or it is broken."""

    def walk(entries: list[Any], level: int) -> Iterator[OutlineEntry]:
        for entry in entries:
            if isinstance(entry, list):
                yield from walk(entry, level + 1)  # a nested list holds the children of the entry before it
                continue
            page = reader.get_destination_page_number(entry)
            title, top = " ".join(str(entry.title or "").split()), entry.get("/Top")
            if page is not None and page >= 0 and title:
                yield level, title, page + 1, float(top) if isinstance(top, int | float) else None

    try:
        return list(walk(reader.outline, 1))
    except Exception:  # a broken outline (or an entry pointing nowhere): headings come from font sizes instead
        return []


def drop_running_lines(lines: list[Line]) -> list[Line]:
    """``lines`` without page numbers and running lines: a page's two top or bottom lines recurring on most pages."""

    def key(line: Line) -> tuple[str, float]:
        # "Page 2 of 9" and "Page 3 of 9" are one footer; the size keeps a title apart from a running header.
        return re.sub(r"\d+", "#", line.text.casefold()), line.size

    pages: dict[int, list[Line]] = {}
    for line in lines:
        pages.setdefault(line.page, []).append(line)
    edges: dict[int, set[tuple[str, float]]] = {}
    for number, page in pages.items():
        placed = sorted((ln for ln in page if ln.y is not None), key=lambda ln: ln.y or 0.0)
        edges[number] = {key(ln) for ln in placed[:2] + placed[-2:]}
    counts = Counter(k for keys in edges.values() for k in keys)
    running = {k for k, n in counts.items() if n >= max(2, math.ceil(0.6 * len(edges))) or _FOLIO.fullmatch(k[0])}
    return [ln for ln in lines if not (key(ln) in running and key(ln) in edges[ln.page])]


def _heading_like(text: str) -> bool:
    return len(text) <= 120 and sum(ch.isalpha() for ch in text) >= 2 and text[-1] not in ".,;"


def _title_lines(lines: list[Line], i: int, title: str) -> int:
    """How many lines from ``i`` (same page, up to 3) spell ``title``; 0 when they do not."""
    wanted, first = title.casefold(), lines[i].text.casefold()
    for seen in (first, _NUMBERED.sub("", first, count=1)):  # "2.1 ASN.1 syntax" is bookmarked "ASN.1 syntax"
        for k in range(i, min(i + 3, len(lines))):
            if k > i:
                if lines[k].page != lines[i].page:
                    break
                seen = f"{seen} {lines[k].text.casefold()}"
            if seen == wanted:
                return k - i + 1
            if not wanted.startswith(seen):
                break
    return 0


def outline_items(lines: list[Line], outline: list[OutlineEntry], body: float) -> tuple[list[Item], str]:
    """Outline headings placed at their title's line (else their target), and a title line found before them."""
    at: dict[int, list[tuple[int, str]]] = {}
    consumed: set[int] = set()
    pos = 0
    for level, title, page, top in outline:
        start = next((i for i in range(pos, len(lines)) if lines[i].page >= page), len(lines))
        on_page = list(takewhile(lambda i: lines[i].page == page, range(start, len(lines))))
        anchor, n = next(((i, n) for i in on_page if (n := _title_lines(lines, i, title))), (None, 0))
        if anchor is None and top is not None:
            anchor = next((i for i in on_page if (y := lines[i].y) is not None and y <= top + 2), None)
        anchor = start if anchor is None else anchor
        at.setdefault(anchor, []).append((level, title))
        consumed.update(range(anchor, anchor + n))
        pos = anchor + n
    # The largest type on page 1 before the first bookmark's place is the document's title.
    before = [i for i in range(min(at, default=0)) if lines[i].page == 1 and lines[i].size > body
              and _heading_like(lines[i].text)]
    top = max(before, key=lambda i: (lines[i].size, -i), default=None)
    found = "" if top is None else lines[top].text
    consumed.update([] if top is None else [top])
    items: list[Item] = []
    for i in range(len(lines) + 1):
        items.extend(at.get(i, []))
        if i < len(lines) and i not in consumed:
            items.append(lines[i])
    return items, found


def font_items(lines: list[Line], body: float) -> list[Item]:
    """Short lines in a font larger than the body's are headings; the largest size is level 1."""
    is_heading = [ln.size > body and _heading_like(ln.text) for ln in lines]
    levels = {size: n for n, size in enumerate(sorted({ln.size for ln, h in zip(lines, is_heading) if h})[::-1], 1)}
    items: list[Item] = []
    for i, line in enumerate(lines):
        prev = items[-1] if items else None
        if not is_heading[i]:
            items.append(line)
        elif isinstance(prev, tuple) and lines[i - 1].size == line.size and lines[i - 1].page == line.page:
            items[-1] = (prev[0], f"{prev[1]} {line.text}")  # a heading wrapped onto a second line
        else:
            items.append((levels[line.size], line.text))
    return items


def _sections(items: list[Item], lines: list[Line], *, doc_id: str, name: str, title: str, publisher: str,
              url: str = "") -> list[Section]:
    # The usual distance between two lines of a paragraph: the lower quartile of the gaps between lines.
    gaps = sorted(a.y - b.y for a, b in zip(lines, lines[1:]) if a.page == b.page and a.size == b.size
                  and a.y is not None and b.y is not None and a.y > b.y)
    leading = gaps[len(gaps) // 4] if gaps else 0.0
    vocab = {w.casefold() for ln in lines for w in _WORD.findall(ln.text)}
    sections: list[Section] = []
    for path, body in under_headings(items, title):
        paragraphs: list[str] = []
        for prev, line in zip([None, *body], body):
            if prev is None or _breaks(prev, line, leading):
                paragraphs.append(line.text)
            else:
                paragraphs[-1] = _join(paragraphs[-1], line.text, vocab)
        first, last = body[0].page, body[-1].page
        where = f"p. {first}" if first == last else f"pp. {first}-{last}"
        pages = section_url(url, f"page={first}") if urlsplit(url).path.lower().endswith(".pdf") else url
        sections.append(Section(doc_id, title, path, "\n\n".join(paragraphs), f"{name}, {where}", publisher, pages))
    return sections


def _breaks(a: Line, b: Line, leading: float) -> bool:
    """Whether line ``b`` starts a new paragraph after line ``a``."""
    if a.size != b.size or a.font != b.font:
        return True  # a bold line in body size is a heading of its own, not the paragraph's first line
    if a.page != b.page:
        return a.text[-1] in ".!?:"  # a sentence running over the page break is one paragraph
    if a.y is None or b.y is None:
        return False
    gap = a.y - b.y
    return gap <= 0 or gap > (leading * 1.3 + 0.5 if leading else b.size * 1.6)


def _join(text: str, line: str, vocab: set[str]) -> str:
    """``text`` continued by the next ``line`` of its paragraph."""
    if _BULLET.match(line):
        return f"{text}\n{line}"  # a list item keeps its own line
    if text.endswith("\u00ad"):  # a soft hyphen marks a word broken for layout only
        return text[:-1] + line
    left, right = re.search(r"(\w+)-$", text), re.match(r"\w+", line)
    if left and right:
        compound = f"{left.group(1)}-{right.group()}".casefold()
        if compound in vocab or left.group(1).casefold() in _PREFIXES or not right.group()[0].islower():
            return text + line  # a real hyphen: "limb-sparing" is written so elsewhere in the document
        return text[:-1] + line  # "sur-" + "geon": a word broken to fit the line
    return f"{text} {line}"
