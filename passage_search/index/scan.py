"""Reading a corpus once: every file's bytes hashed into the corpus fingerprint, text kept for the parse."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from passage_search.ingest.readers import META_SUFFIX, TEXT_SUFFIXES, CorpusFile, corpus_files


@dataclass(frozen=True)
class CorpusScan:
    """Every file under a corpus, read once: its fingerprint, and the files with the bytes to parse."""

    files: list[CorpusFile]
    fingerprint: str

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [(f.shown, f.reason) for f in self.files if f.reason is not None]


def scan_corpus(corpus: Path, *, keep: bool = True) -> CorpusScan:
    """Read every file under ``corpus`` once, hashing names, bytes and sidecar metadata as it goes.

    ``keep``: hold on to the bytes of the text files to be parsed (and of sidecars), so the parse reads
    nothing again. PDF and DOCX files are only hashed: their readers open the file themselves.
    """
    digest = hashlib.sha256()
    files = []
    for path, reason in corpus_files(corpus):
        if reason is not None:
            # A skipped file counts by its name and reason only: its bytes (a link's target outside the
            # corpus, a huge file of another type) are never read.
            digest.update(f"{_shown(corpus, path)}\0skipped: {reason}\0".encode())
            files.append(CorpusFile(path, _shown(corpus, path), reason, None, None))
            continue
        parsed = keep
        data = _hash_file(digest, corpus, path, keep=parsed and path.suffix.lower() in TEXT_SUFFIXES)
        meta = _hash_file(digest, corpus, path.with_name(path.name.rsplit(".", 1)[0] + META_SUFFIX), keep=parsed)
        files.append(CorpusFile(path, _shown(corpus, path), reason, data, meta))
    return CorpusScan(files, digest.hexdigest()[:16])


def _hash_file(digest: hashlib._Hash, corpus: Path, item: Path, *, keep: bool) -> bytes | None:
    """Add ``item``'s path and bytes to ``digest`` if it is a file; its bytes if ``keep``.

    A sidecar that links out of the corpus folder counts as absent, like a corpus file that does.
    """
    if not item.is_file() or (corpus.is_dir() and not item.resolve().is_relative_to(corpus.resolve())):
        return None
    rel = item.relative_to(corpus) if corpus.is_dir() else Path(item.name)
    # The path, not just the name: moving a file changes its document id.
    digest.update(rel.as_posix().encode() + b"\0")
    try:
        with open(item, "rb") as fh:
            if keep:
                data = fh.read()
                digest.update(data)
                return data
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        digest.update(b"<unreadable>")
    return None


def corpus_fingerprint(corpus: Path) -> str:
    """A hash of every file under the corpus (names and bytes), sidecar metadata included."""
    return scan_corpus(corpus, keep=False).fingerprint


def _shown(corpus: Path, path: Path) -> str:
    return str(path.relative_to(corpus)) if corpus.is_dir() else path.name
