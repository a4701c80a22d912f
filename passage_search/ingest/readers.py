"""Readers: turn corpus files (.txt, .md, .html, BEIR corpus.jsonl, .pdf, .docx) into sections under headings.

A section is the text that sits under one heading path. Splitting sections into passages that fit the
model is the splitter's job, not the readers'.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from passage_search.errors import CorpusError
from passage_search.ingest.section import (  # defined apart so that pdf.py and docx.py need not import us
    Section,
    under_headings,
)

TEXT_SUFFIXES = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".jsonl": "jsonl"}
# Binary documents, read by their own modules (pdf.py, docx.py) rather than decoded as text.
DOCUMENT_SUFFIXES = {".pdf": "pdf", ".docx": "docx"}
META_SUFFIX = ".meta.json"
# A patient-information page or leaflet (.txt, .md, .html, .pdf, .docx) is kilobytes to a few MB; one this
# large is a dump or a log put in the corpus by mistake, and would hold a build for an hour on two cores. It
# is skipped with its size given. BEIR corpus.jsonl files hold whole collections (MedQuAD's is 28 MB) and have no limit.
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass
class ReadReport:
    sections: list[Section] = field(default_factory=list)
    documents: int = 0
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class CorpusFile:
    """A corpus file as a scan found it (build.scan_corpus), so that reading it needs no second read."""

    path: Path
    shown: str  # its name under the corpus, the document id of its sections
    reason: str | None = None  # why it is skipped; None: it is read
    data: bytes | None = None  # its bytes, if already read (PDF and DOCX readers open the file themselves)
    meta: bytes | None = None  # its sidecar's bytes, if already read


# ---- plain text: a title line, then short heading lines each followed by paragraphs -------------------

_TERMINAL = ".!?:;,"


def looks_like_heading(block: str) -> bool:
    """A one-line block short enough to be a heading, not a sentence, bullet, or contact line."""
    if "\n" in block or not block or len(block) > 100:
        return False
    if block[-1] in _TERMINAL or not block[0].isalpha() or not block[0].isupper():
        return False
    if any(ch in block for ch in "|©•"):
        return False
    return len(block.split()) <= 15


def _blocks(text: str) -> list[str]:
    """Paragraphs split on blank lines, each line's surrounding white space dropped."""
    blocks = ("\n".join(line.strip() for line in b.splitlines()) for b in re.split(r"\n\s*\n", text))
    return [b.strip() for b in blocks if b.strip()]


def parse_txt(text: str, *, doc_id: str, source: str, title: str = "", publisher: str = "") -> list[Section]:
    blocks = _blocks(text)
    if blocks and looks_like_heading(blocks[0]):
        title = title or blocks[0]
        blocks = blocks[1:]
    title = title or doc_id
    sections: list[Section] = []
    heading: str | None = None
    body: list[str] = []

    def flush() -> None:
        if body:
            path = (title,) if heading is None else (title, heading)
            sections.append(Section(doc_id, title, path, "\n\n".join(body), source, publisher))

    for block in blocks:
        if looks_like_heading(block):
            flush()
            heading, body = block, []
        else:
            body.append(block)
    flush()
    return sections


# ---- markdown: ATX headings (# .. ######), fenced code kept as text ------------------------------------

# Closing hashes count only after a space (CommonMark): "## Questions about C#" keeps its "#".
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def parse_md(text: str, *, doc_id: str, source: str, title: str = "", publisher: str = "") -> list[Section]:
    items: list[tuple[int, str] | str] = []  # (level, heading) or a body line
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _ATX.match(line)
        items.append((len(match.group(1)), (match.group(2) or "").strip()) if match else line)
    h1s = [it[1] for it in items if isinstance(it, tuple) and it[0] == 1]
    title = title or (h1s[0] if h1s else doc_id)
    return _sections_from_items(items, doc_id=doc_id, source=source, title=title, publisher=publisher)


def _sections_from_items(
    items: list[tuple[int, str] | str], *, doc_id: str, source: str, title: str, publisher: str
) -> list[Section]:
    sections = []
    for path, body in under_headings(items, title):
        text = "\n\n".join(_blocks("\n".join(body)))
        if text:
            sections.append(Section(doc_id, title, path, text, source, publisher))
    return sections


# ---- HTML: h1-h6 and block elements, parsed by BeautifulSoup -------------------------------------------

_HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
_BLOCKS = ["p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption"]


def parse_html(text: str, *, doc_id: str, source: str, title: str = "", publisher: str = "") -> list[Section]:
    from bs4 import BeautifulSoup  # imported here: only HTML corpora pay for it

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav"]):
        tag.decompose()
    wanted = set(_HEADINGS) | set(_BLOCKS)
    items: list[tuple[int, str] | str] = []
    for el in soup.find_all(list(wanted)):
        if any(parent.name in wanted for parent in el.parents):
            continue  # its text is already part of the enclosing block
        content = " ".join(el.get_text(" ").split())
        if el.name in _HEADINGS:
            items.append((int(el.name[1]), content))
        elif content:
            items.extend([content, ""])
    h1 = next((it[1] for it in items if isinstance(it, tuple) and it[0] == 1 and it[1]), "")
    page_title = " ".join(soup.title.get_text().split()) if soup.title else ""
    title = title or h1 or page_title or doc_id
    return _sections_from_items(items, doc_id=doc_id, source=source, title=title, publisher=publisher)


# ---- BEIR corpus.jsonl: one document per line, its title used as the heading ---------------------------


def parse_beir_jsonl(text: str, *, source: str, publisher: str = "") -> list[Section]:
    sections = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            doc_id, body = str(doc["_id"]), str(doc.get("text") or "").strip()
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{source} line {lineno} is not a BEIR document ({exc}); fix or remove it.") from exc
        title = " ".join(str(doc.get("title") or "").split())
        if body:
            path = (title,) if title else (doc_id,)
            sections.append(Section(doc_id, title or doc_id, path, body, source, publisher))
    return sections


# ---- files and folders ---------------------------------------------------------------------------------


def read_meta(path: Path, raw: bytes | None = None) -> dict[str, str]:
    """The sidecar metadata of ``path`` (``raw``: the sidecar's bytes, if already read)."""
    meta_path = path.with_name(path.name.rsplit(".", 1)[0] + META_SUFFIX)
    if raw is None and not meta_path.is_file():
        return {}
    try:
        data = json.loads((meta_path.read_bytes() if raw is None else raw).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{meta_path} is not valid JSON ({exc}); fix it or remove it.") from exc
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def read_file(path: Path, *, doc_id: str, data: bytes | None = None, meta: bytes | None = None) -> list[Section]:
    """The sections of one file; ``data`` and ``meta``: its bytes and its sidecar's, if already read."""
    if path.suffix.lower() in DOCUMENT_SUFFIXES:
        return _read_document(path, doc_id=doc_id, meta=meta)
    kind = TEXT_SUFFIXES[path.suffix.lower()]
    raw = path.read_bytes() if data is None else data
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path} is not UTF-8 text (byte {exc.start}); convert it to UTF-8.") from exc
    if "\x00" in text:
        raise CorpusError(f"{path} looks binary (it contains NUL bytes).")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fields = read_meta(path, meta)
    source, title, publisher = path.name, fields.get("title", ""), fields.get("publisher", "")
    if kind == "jsonl":
        return parse_beir_jsonl(text, source=source, publisher=publisher)
    parse = {"txt": parse_txt, "md": parse_md, "html": parse_html}[kind]
    return parse(text, doc_id=doc_id, source=source, title=title, publisher=publisher)


def _read_document(path: Path, *, doc_id: str, meta: bytes | None = None) -> list[Section]:
    # Imported here: a corpus without PDF or Word files never loads these readers.
    from passage_search.ingest.docx import read_docx
    from passage_search.ingest.pdf import read_pdf

    if path.stat().st_size == 0:
        return []  # reported as "the file is empty", like an empty text file
    fields = read_meta(path, meta)
    read = read_pdf if DOCUMENT_SUFFIXES[path.suffix.lower()] == "pdf" else read_docx
    return read(path, doc_id=doc_id, title=fields.get("title", ""), publisher=fields.get("publisher", ""))


def corpus_files(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Every file under ``root`` in a stable order, with the reason it is skipped (None: it is read)."""
    if root.is_file():
        yield root, _skip_reason(root)
        return
    seen: set[Path] = set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.name.endswith(META_SUFFIX):
            continue
        if path.is_dir():
            continue
        if path.is_symlink() and not path.exists():
            yield path, "a link to nothing (broken symlink)"
            continue
        real = path.resolve()
        if real in seen:
            yield path, "same file as one already read (symlink)"
            continue
        seen.add(real)
        yield path, _skip_reason(path)


def _skip_reason(path: Path) -> str | None:
    kind = TEXT_SUFFIXES.get(path.suffix.lower()) or DOCUMENT_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        return "unsupported file type"
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if size > MAX_FILE_BYTES and kind != "jsonl":
        return f"{size / 2**20:.1f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit for one file; split it into pages"
    return None


def _is_blank(path: Path, data: bytes | None = None) -> bool:
    """Whether a file read without error holds nothing but white space (or a byte-order mark)."""
    try:
        return not (path.read_bytes() if data is None else data).decode("utf-8-sig", errors="replace").strip()
    except OSError:
        return False


def read_corpus(root: Path, files: Iterable[CorpusFile] | None = None) -> ReadReport:
    """Read every supported file under ``root``; unreadable files are skipped and reported.

    ``files``: the corpus's files as a scan already found (and read) them; by default, ``corpus_files``.
    """
    if not root.exists():
        raise CorpusError(f"The corpus {root} does not exist; pass --corpus with a folder or file.")
    report = ReadReport()
    if files is None:
        files = (CorpusFile(p, str(p.relative_to(root)) if root.is_dir() else p.name, r) for p, r in corpus_files(root))
    for file in files:
        path, shown, reason = file.path, file.shown, file.reason
        if reason is not None:
            report.skipped.append((shown, reason))
            continue
        try:
            sections = read_file(path, doc_id=Path(shown).as_posix(), data=file.data, meta=file.meta)
        except CorpusError as exc:
            report.skipped.append((shown, str(exc)))
            continue
        except OSError as exc:
            report.skipped.append((shown, f"cannot be read ({exc.strerror or exc})"))
            continue
        report.files.append(path)
        if not sections:
            blank = _is_blank(path, file.data)
            report.skipped.append((shown, "the file is empty" if blank else "no text under any heading"))
            continue
        report.documents += len({s.doc_id for s in sections})
        report.sections.extend(sections)
    return report
