"""Readers: turn corpus files (.txt, .md, .html, BEIR corpus.jsonl, .pdf, .docx) into sections under headings.

A section is the text that sits under one heading path. Splitting sections into passages that fit the
model is the splitter's job, not the readers'.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from passage_search.errors import CorpusError
from passage_search.ingest.beir import parse_beir_jsonl
from passage_search.ingest.files import DOCUMENT_SUFFIXES, META_SUFFIX, TEXT_SUFFIXES, corpus_files
from passage_search.ingest.html import parse_html
from passage_search.ingest.section import (  # defined apart so that pdf.py and docx.py need not import us
    Section,
    anchored,
    document_url,
    section_url,
)


@dataclass
class ReadReport:
    sections: list[Section] = field(default_factory=list)
    documents: int = 0
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class CorpusFile:
    """A corpus file as a scan found it (index.scan.scan_corpus), so that reading it needs no second read."""

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


def parse_txt(text: str, *, doc_id: str, source: str, title: str = "", publisher: str = "", url: str = ""
              ) -> list[Section]:
    """Plain text has no anchors: every section's ``url`` is the document's."""
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
            sections.append(Section(doc_id, title, path, "\n\n".join(body), source, publisher, url))

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
# An explicit heading anchor (Pandoc, kramdown, Python-Markdown's attr_list): "## Surgery {#surgery}", other
# attributes allowed after it ("{#surgery .wide}"). It names the section on the publisher's site and is not
# part of the heading.
_ANCHOR = re.compile(r"[ \t]*\{#([^\s{}]+)(?:[ \t]+[^{}]*)?\}$")


def parse_md(text: str, *, doc_id: str, source: str, title: str = "", publisher: str = "", url: str = ""
             ) -> list[Section]:
    """Markdown; a heading's explicit ``{#anchor}`` gives its sections' ``url`` (``url`` + ``#anchor``)."""
    items: list[tuple[int, str, str] | str] = []  # (level, heading, anchor) or a body line
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _ATX.match(line)
        if match:
            heading = (match.group(2) or "").strip()
            anchor = _ANCHOR.search(heading)
            items.append((len(match.group(1)), heading[: anchor.start()].strip() if anchor else heading,
                          anchor.group(1) if anchor else ""))
        else:
            items.append(line)
    h1s = [it[1] for it in items if isinstance(it, tuple) and it[0] == 1]
    title = title or (h1s[0] if h1s else doc_id)
    sections = []
    for path, tag, body in anchored(items, title):
        text = "\n\n".join(_blocks("\n".join(body)))
        if text:
            sections.append(Section(doc_id, title, path, text, source, publisher, section_url(url, tag)))
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
    fields = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    if "url" in fields:  # checked here, so a bad address skips the file with the reason in the summary
        fields["url"] = document_url(data["url"], f"The url in {meta_path.name}")
    return fields


def read_file(
    path: Path,
    *,
    doc_id: str,
    data: bytes | None = None,
    meta: bytes | None = None,
    skipped: list[tuple[str, str]] | None = None,
    seen: dict[str, str] | None = None,
) -> list[Section]:
    """The sections of one file; ``data`` and ``meta``: its bytes and its sidecar's, if already read.

    ``skipped`` and ``seen``: for a BEIR corpus.jsonl, the lines not indexed and the ``_id``s already read
    (see ``parse_beir_jsonl``; ``doc_id`` names the file there).
    """
    if path.suffix.lower() in DOCUMENT_SUFFIXES:
        return _read_document(path, doc_id=doc_id, meta=meta)
    kind = TEXT_SUFFIXES[path.suffix.lower()]
    raw = path.read_bytes() if data is None else data
    if kind == "jsonl":  # a line that is not UTF-8 (or holds a NUL) is skipped on its own, not the whole file
        text = raw.decode("utf-8-sig", errors="surrogateescape")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path} is not UTF-8 text (byte {exc.start}); convert it to UTF-8.") from exc
        if "\x00" in text:
            raise CorpusError(f"{path} looks binary (it contains NUL bytes).")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fields = read_meta(path, meta)
    source, title, publisher = path.name, fields.get("title", ""), fields.get("publisher", "")
    if kind == "jsonl":  # each line is a document with its own url; the sidecar's would be the collection's
        return parse_beir_jsonl(text, source=source, publisher=publisher, skipped=skipped, seen=seen, name=doc_id)
    parse = {"txt": parse_txt, "md": parse_md, "html": parse_html}[kind]
    return parse(text, doc_id=doc_id, source=source, title=title, publisher=publisher, url=fields.get("url", ""))


def _read_document(path: Path, *, doc_id: str, meta: bytes | None = None) -> list[Section]:
    # Imported here: a corpus without PDF or Word files never loads these readers.
    from passage_search.ingest.docx import read_docx
    from passage_search.ingest.pdf import read_pdf

    if path.stat().st_size == 0:
        return []  # reported as "the file is empty", like an empty text file
    fields = read_meta(path, meta)
    read = read_pdf if DOCUMENT_SUFFIXES[path.suffix.lower()] == "pdf" else read_docx
    return read(path, doc_id=doc_id, title=fields.get("title", ""), publisher=fields.get("publisher", ""),
                url=fields.get("url", ""))


def _is_blank(path: Path, data: bytes | None = None) -> bool:
    """Whether a file read without error holds nothing but white space (or a byte-order mark)."""
    try:
        return not (path.read_bytes() if data is None else data).decode("utf-8-sig", errors="replace").strip()
    except OSError:
        return False


def read_corpus(root: Path, files: Iterable[CorpusFile] | None = None) -> ReadReport:
    """Read every supported file under ``root``; unreadable files, and lines of a BEIR corpus.jsonl that
    cannot be indexed (``beir.LineSkipped``), are skipped and reported in ``ReadReport.skipped``.

    ``files``: the corpus's files as a scan already found (and read) them; by default, ``corpus_files``.
    """
    if not root.exists():
        raise CorpusError(f"The corpus {root} does not exist; pass --corpus with a folder or file.")
    report = ReadReport()
    if files is None:
        files = (CorpusFile(p, str(p.relative_to(root)) if root.is_dir() else p.name, r) for p, r in corpus_files(root))
    beir_ids: dict[str, str] = {}  # every BEIR _id read so far, with where: one _id, one document
    for file in files:
        path, shown, reason = file.path, file.shown, file.reason
        if reason is not None:
            report.skipped.append((shown, reason))
            continue
        lines: list[tuple[str, str]] = []  # lines of a corpus.jsonl not indexed (beir.LineSkipped)
        doc_id = Path(shown).as_posix()
        beir = TEXT_SUFFIXES.get(path.suffix.lower()) == "jsonl"
        if not beir and doc_id in beir_ids:  # one id, one document: a file never merges into a BEIR document
            report.skipped.append((shown, f"its name is already the _id of a document ({beir_ids[doc_id]}); rename it"))
            continue
        try:
            sections = read_file(
                path, doc_id=doc_id, data=file.data, meta=file.meta, skipped=lines, seen=beir_ids
            )
        except CorpusError as exc:
            report.skipped.append((shown, str(exc)))
            continue
        except OSError as exc:
            report.skipped.append((shown, f"cannot be read ({exc.strerror or exc})"))
            continue
        report.files.append(path)
        report.skipped.extend(lines)
        if not beir:
            beir_ids.setdefault(doc_id, shown)  # a later BEIR line with this _id is a duplicate
        if not sections:
            blank = _is_blank(path, file.data)
            why = "no document could be indexed" if lines else "no text under any heading"
            report.skipped.append((shown, "the file is empty" if blank else why))
            continue
        report.documents += len({s.doc_id for s in sections})
        report.sections.extend(sections)
    return report
