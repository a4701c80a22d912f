"""PDF reader: text lines from pypdf, headings from the outline or from font size, page numbers kept.

Each section's source names its pages ("leaflet.pdf, p. 3", "leaflet.pdf, pp. 3-4"). Lines repeated at the
top or bottom of most pages (running headers, page footers) are dropped; paragraphs are recovered from the
vertical gaps between lines, and words hyphenated across a line break are joined.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passage_search.errors import CorpusError
from passage_search.ingest.readers import Section

if TYPE_CHECKING:
    from pypdf import PdfReader

NO_TEXT = "has no text layer (a scanned image?); add a text version."
ENCRYPTED = "is password-protected (encrypted); add an unprotected copy."
NEEDS_CRYPTOGRAPHY = "is encrypted with AES, which needs the cryptography package to read; add an unprotected copy."
DAMAGED = "is damaged or not a PDF ({detail}); export it again from its source."

_BULLET = re.compile(r"^(?:[•◦▪▫●○■□‣⁃–—-]|\d{1,2}[.)]|[a-z][.)])\s")
_WORD = re.compile(r"\w+(?:-\w+)*")
# Line-end hyphens after these stay: "self-\ncare" is "self-care", not "selfcare".
_PREFIXES = {"self", "non", "ex", "well", "all", "cross", "half", "long", "short", "high", "low", "follow"}


@dataclass(frozen=True)
class Line:
    text: str
    size: float  # effective font size in points, rounded to 0.5, weighted by characters
    y: float | None  # baseline height on the page; None when pypdf gave no position
    page: int  # 1-based


def read_pdf(path: Path, *, doc_id: str, title: str = "", publisher: str = "") -> list[Section]:
    """Sections of the PDF at ``path``; raises CorpusError naming why it cannot be read."""
    with _quiet():
        reader = _open(path)
        try:
            lines = [line for number, page in enumerate(reader.pages, 1) for line in _page_lines(page, number)]
            outline = _outline(reader)
            info_title = (reader.metadata.title if reader.metadata else None) or ""
        except CorpusError:
            raise
        except Exception as exc:  # pypdf raises many kinds (KeyError, ValueError, ...) on a damaged stream
            raise CorpusError(f"{path} {DAMAGED.format(detail=_brief(exc))}") from exc
    if not lines:
        raise CorpusError(f"{path} {NO_TEXT}")
    lines = drop_running_lines(lines)
    body = Counter[float]()
    for line in lines:
        body[line.size] += len(line.text)
    body_size = body.most_common(1)[0][0] if body else 0.0
    if outline:
        items, found = outline_items(lines, outline, body_size)
    else:
        items = font_items(lines, body_size)
        found = next((it[1] for it in items if isinstance(it, tuple) and it[0] == 1), "")
    if not found and _plausible_title(info_title):
        found = " ".join(info_title.split())
    return _sections(items, lines, doc_id=doc_id, name=path.name, title=title or found or doc_id, publisher=publisher)


def _open(path: Path) -> PdfReader:
    from pypdf import PdfReader  # imported here: only corpora with PDFs pay for it
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(path)
        # Many leaflets are "protected" by an owner password only: the empty user password opens them.
        if reader.is_encrypted and not reader.decrypt(""):
            raise CorpusError(f"{path} {ENCRYPTED}")
        len(reader.pages)
    except CorpusError:
        raise
    except DependencyError as exc:
        raise CorpusError(f"{path} {NEEDS_CRYPTOGRAPHY}") from exc
    except Exception as exc:  # pypdf's errors on garbage bytes are not all PdfReadError
        raise CorpusError(f"{path} {DAMAGED.format(detail=_brief(exc))}") from exc
    return reader


@contextmanager
def _quiet() -> Iterator[None]:
    """pypdf logs a warning for each flaw it repairs; a build reports files in its summary, not those."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _brief(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 100 else text[:97] + "..."


def _plausible_title(text: str) -> bool:
    """Document-info titles are often a file name or a tool's default, not the leaflet's title."""
    text = text.strip()
    return bool(text) and text.lower() not in {"untitled", "title"} and not re.search(
        r"\.\w{2,4}$|^Microsoft Word - ", text
    )


def _page_lines(page: Any, number: int) -> list[Line]:
    """The page's text lines in content order, each with its font size and baseline height."""
    lines: list[Line] = []
    parts: list[str] = []
    sizes = Counter[float]()
    y: float | None = None

    def end_line() -> None:
        text = " ".join("".join(parts).split())
        if text:
            lines.append(Line(text, sizes.most_common(1)[0][0] if sizes else 0.0, y, number))
        parts.clear()
        sizes.clear()

    def visit(text: str, cm: list[float], tm: list[float], _font: Any, font_size: float) -> None:
        nonlocal y
        # The text-space scale (text matrix times page matrix) turns "Tf 1" into the size a reader sees.
        c, d = tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3]
        size = round(abs(font_size) * math.hypot(c, d) * 2) / 2
        for k, piece in enumerate(text.split("\n")):
            if k:
                end_line()
            if piece.strip():
                if not "".join(parts).strip():
                    y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5] if k == 0 else None
                sizes[size] += len(piece.strip())
            parts.append(piece)

    page.extract_text(visitor_text=visit)
    end_line()
    return lines


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", text.casefold())  # "Page 2 of 9" and "Page 3 of 9" are one footer


def drop_running_lines(lines: list[Line]) -> list[Line]:
    """Lines without those among the two top or two bottom lines of a page that recur on most pages."""
    pages: dict[int, list[Line]] = {}
    for line in lines:
        pages.setdefault(line.page, []).append(line)
    if len(pages) < 2:
        return lines
    edge: dict[int, set[str]] = {}
    for number, page in pages.items():
        placed = sorted((ln for ln in page if ln.y is not None), key=lambda ln: ln.y or 0.0)
        edge[number] = {_key(ln.text) for ln in placed[:2] + placed[-2:]}
    counts = Counter(key for keys in edge.values() for key in keys)
    running = {key for key, n in counts.items() if n >= max(2, math.ceil(0.6 * len(pages)))}
    return [ln for ln in lines if not (_key(ln.text) in running and _key(ln.text) in edge[ln.page])]


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _title_lines(lines: list[Line], i: int, title: str) -> int:
    """How many lines from ``i`` (same page, up to 3) spell ``title``; 0 when they do not."""
    wanted, seen = _norm(title), ""
    for k in range(i, min(i + 3, len(lines))):
        if lines[k].page != lines[i].page:
            break
        seen = f"{seen} {_norm(lines[k].text)}".strip()
        if seen == wanted:
            return k - i + 1
        if not wanted.startswith(seen):
            break
    return 0


Item = tuple[int, str] | Line


def outline_items(
    lines: list[Line], outline: list[tuple[int, str, int, float | None]], body_size: float
) -> tuple[list[Item], str]:
    """Headings from the outline, each placed where its title line (or its target) is; and a title line."""
    at: dict[int, list[tuple[int, str]]] = {}
    consumed: set[int] = set()
    pos = 0
    for level, title, page, top in outline:
        start = next((i for i in range(pos, len(lines)) if lines[i].page >= page), len(lines))
        on_page = [i for i in range(start, len(lines)) if lines[i].page == page]
        anchor, n = next(((i, n) for i in on_page if (n := _title_lines(lines, i, title))), (None, 0))
        if anchor is None and top is not None:
            anchor = next((i for i in on_page if lines[i].y is not None and (lines[i].y or 0) <= top + 2), None)
        anchor = start if anchor is None else anchor
        at.setdefault(anchor, []).append((level, title))
        consumed.update(range(anchor, anchor + n))
        pos = anchor + n
    # A line in a larger font before the first outline target, on page 1, is the document's title.
    first = min(at, default=0)
    found = ""
    if first > 0 and lines[0].page == 1 and lines[0].size > body_size and _heading_like(lines[0].text):
        found = lines[0].text
        consumed.add(0)
    items: list[Item] = []
    for i in range(len(lines) + 1):
        items.extend(at.get(i, []))
        if i < len(lines) and i not in consumed:
            items.append(lines[i])
    return items, found


def _heading_like(text: str) -> bool:
    return len(text) <= 120 and sum(ch.isalpha() for ch in text) >= 2 and text[-1] not in ".,;"


def font_items(lines: list[Line], body_size: float) -> list[Item]:
    """Short lines in a font larger than the body's are headings; the largest size is level 1."""
    is_heading = [ln.size > body_size and _heading_like(ln.text) for ln in lines]
    levels = {size: n for n, size in enumerate(sorted({ln.size for ln, h in zip(lines, is_heading) if h})[::-1], 1)}
    items: list[Item] = []
    for i, line in enumerate(lines):
        if not is_heading[i]:
            items.append(line)
            continue
        prev = lines[i - 1] if i else None
        # A heading wrapped onto a second line continues the one above it (same size, same page).
        if prev and is_heading[i - 1] and prev.size == line.size and prev.page == line.page and items:
            level, text = items[-1]  # type: ignore[misc]
            items[-1] = (level, f"{text} {line.text}")
        else:
            items.append((levels[line.size], line.text))
    return items


def _sections(
    items: list[Item], lines: list[Line], *, doc_id: str, name: str, title: str, publisher: str
) -> list[Section]:
    leading = _leading(lines)
    vocab = {w.casefold() for ln in lines for w in _WORD.findall(ln.text)}
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[Line] = []

    def flush() -> None:
        text = _text(body, leading, vocab)
        if text:
            path = tuple(h for _, h in stack)
            if not path or path[0] != title:
                path = (title, *path)
            first, last = body[0].page, body[-1].page
            where = f"p. {first}" if first == last else f"pp. {first}-{last}"
            sections.append(Section(doc_id, title, path, text, f"{name}, {where}", publisher))

    for item in items:
        if isinstance(item, Line):
            body.append(item)
            continue
        flush()
        body = []
        stack = [(lvl, h) for lvl, h in stack if lvl < item[0]] + [item]
    flush()
    return sections


def _leading(lines: list[Line]) -> float:
    """The usual distance between two lines of one paragraph: the lower quartile of line gaps."""
    gaps = sorted(
        a.y - b.y for a, b in zip(lines, lines[1:])
        if a.page == b.page and a.size == b.size and a.y is not None and b.y is not None and a.y > b.y
    )
    return gaps[len(gaps) // 4] if gaps else 0.0


def _text(lines: list[Line], leading: float, vocab: set[str]) -> str:
    """Paragraphs (blank-line separated) from lines: a wider gap, a font change or a page's end splits."""
    paragraphs: list[str] = []
    for i, line in enumerate(lines):
        prev = lines[i - 1] if i else None
        if prev is None or _breaks(prev, line, leading):
            paragraphs.append(line.text)
        else:
            paragraphs[-1] = _join(paragraphs[-1], line.text, vocab)
    return "\n\n".join(paragraphs)


def _breaks(a: Line, b: Line, leading: float) -> bool:
    if a.page != b.page:
        return a.text[-1] in ".!?:"  # a sentence running over the page break is one paragraph
    if a.size != b.size:
        return True
    if a.y is None or b.y is None:
        return False
    gap = a.y - b.y
    return gap <= 0 or (leading > 0 and gap > leading * 1.3 + 0.5) or (leading == 0 and gap > b.size * 1.6)


def _join(text: str, line: str, vocab: set[str]) -> str:
    if _BULLET.match(line):
        return f"{text}\n{line}"
    if text.endswith("\u00ad"):  # a soft hyphen marks a word broken for layout only
        return text[:-1] + line
    left, right = re.search(r"(\w*)-$", text), re.match(r"\w+", line)
    if left and left.group(1) and right:
        compound = f"{left.group(1)}-{right.group()}".casefold()
        if compound in vocab or left.group(1).casefold() in _PREFIXES or not right.group()[0].islower():
            return text + line  # a real hyphen: "limb-sparing" is written so elsewhere
        return text[:-1] + line  # "sur-" + "geon": a word broken to fit the line
    return f"{text} {line}"


def _outline(reader: PdfReader) -> list[tuple[int, str, int, float | None]]:
    """The outline (bookmarks) as (level, title, 1-based page, top or None), in order; [] when it has none."""
    out: list[tuple[int, str, int, float | None]] = []

    def walk(entries: list[Any], level: int) -> None:
        for entry in entries:
            if isinstance(entry, list):
                walk(entry, level + 1)  # a nested list holds the children of the entry before it
                continue
            try:
                page = reader.get_destination_page_number(entry)
            except Exception:  # an entry pointing nowhere is dropped, the rest still count
                continue
            title = " ".join(str(entry.title or "").split())
            top = entry.get("/Top")
            if page is not None and page >= 0 and title:
                out.append((level, title, page + 1, float(top) if isinstance(top, int | float) else None))

    try:
        walk(reader.outline, 1)
    except Exception:  # a broken outline: fall back to font sizes
        return []
    return out
