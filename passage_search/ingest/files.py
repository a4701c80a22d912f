"""Which files of a corpus folder are read, in what order, and why the others are skipped."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

TEXT_SUFFIXES = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".jsonl": "jsonl"}
# Binary documents, read by their own modules (pdf.py, docx.py) rather than decoded as text.
DOCUMENT_SUFFIXES = {".pdf": "pdf", ".docx": "docx"}
META_SUFFIX = ".meta.json"
# A patient-information page or leaflet (.txt, .md, .html, .pdf, .docx) is kilobytes to a few MB; one this
# large is a dump or a log put in the corpus by mistake, and would hold a build for an hour on two cores. It
# is skipped with its size given. BEIR corpus.jsonl files hold whole collections (MedQuAD's is 28 MB) and have no limit.
MAX_FILE_BYTES = 20 * 1024 * 1024


def corpus_files(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Every file under ``root`` in a stable order, with the reason it is skipped (None: it is read).

    A link is read only if it leads to a file inside ``root``: a corpus folder is what gets indexed and
    served, so a link cannot bring in /etc/hostname or a home folder.
    """
    if root.is_file():
        yield root, _skip_reason(root)
        return
    inside = root.resolve()
    seen: set[Path] = set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.name.endswith(META_SUFFIX):
            continue
        if path.is_dir():
            continue
        real, reason = _target(path, inside)
        if reason is not None:
            yield path, reason
            continue
        if real in seen:
            yield path, "same file as one already read (symlink)"
            continue
        seen.add(real)
        yield path, _skip_reason(path)


LOOP = "a link that leads round in a loop (symlink loop)"


def _target(path: Path, inside: Path) -> tuple[Path, str | None]:
    """Where ``path`` leads, and why it is not read: a link to nothing, in a loop, out of ``inside`` or to a
    hidden file, or anything but a regular file."""
    if path.is_symlink():
        try:
            real = path.resolve(strict=True)
        except RuntimeError:  # Python 3.11 raises RuntimeError("Symlink loop ..."), later ones OSError(ELOOP)
            return path, LOOP
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return path, LOOP
            return path, "a link to nothing (broken symlink)"
        if not real.is_relative_to(inside):
            return real, f"a link to a file outside the corpus folder ({real}); copy the file in to index it"
        if any(part.startswith(".") for part in real.relative_to(inside).parts):
            return real, "a link to a hidden file (hidden files and folders are not read)"
    else:
        real = path.resolve()
    if not real.is_file():  # a pipe would hang the build, a device never end
        return real, "not a regular file (a pipe, socket or device)"
    return real, None


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
