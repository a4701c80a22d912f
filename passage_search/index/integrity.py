"""Proof that a generation is what its build wrote: every file's sha256, checked before any use or reuse.

The manifest lists the sha256 of every file of its generation (and carries a digest of itself, manifest.py),
so an edited passage, a flipped byte in a FAISS file or a truncated array is refused before it can be shown
as the publisher's words or carried into the next build. Files are hashed in streaming blocks, two at a
time: hashlib releases the GIL, so the two cores hash in parallel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from passage_search.errors import IndexMismatchError
from passage_search.index.manifest import MANIFEST, REPAIR_HINT, Manifest

BLOCK = 1 << 20
WORKERS = 2


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in blocks (a 100 MB vector file never sits in memory twice)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _files(gen: Path) -> list[str]:
    """Every file of a generation but its manifest, as paths relative to it (sorted, '/'-separated)."""
    return sorted(p.relative_to(gen).as_posix() for p in gen.rglob("*") if p.is_file() and p.name != MANIFEST)


def _hash_all(gen: Path, names: Iterable[str]) -> dict[str, str]:
    names = list(names)
    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(zip(names, pool.map(lambda n: file_sha256(gen / n), names), strict=True))


def checksums(gen: Path) -> dict[str, str]:
    """The sha256 of every file the build wrote into ``gen`` (the manifest's ``checksums``)."""
    return _hash_all(gen, _files(gen))


def problem(gen: Path, manifest: Manifest) -> str | None:
    """What in ``gen`` differs from what its manifest lists (None: every file is as written)."""
    listed = manifest.checksums
    if not listed:
        return "its manifest lists no checksums"
    for name in listed:
        if not _inside(name):
            return f"its manifest lists a file outside the index ({name})"
    missing = [name for name in listed if not (gen / name).is_file()]
    if missing:
        return f"its file {missing[0]} is missing"
    try:
        good = _matching(gen, manifest)
    except OSError as exc:
        return f"a file cannot be read ({exc.strerror or exc})"
    changed = [name for name in listed if name not in good]
    if changed:
        return f"its file {changed[0]} was changed or damaged after the build"
    return None


def intact(gen: Path, manifest: Manifest) -> set[str]:
    """The files of ``gen`` that are exactly as its manifest lists them (what a next build may reuse)."""
    try:
        return _matching(gen, manifest)
    except OSError:
        return set()


def _matching(gen: Path, manifest: Manifest) -> set[str]:
    """The listed files present in ``gen`` whose sha256 is the listed one; OSError if one cannot be read."""
    present = [n for n in manifest.checksums if _inside(n) and (gen / n).is_file()]
    found = _hash_all(gen, present)
    return {n for n in present if found[n] == manifest.checksums[n]}


def _inside(name: str) -> bool:
    return not Path(name).is_absolute() and ".." not in Path(name).parts


def verify(root: Path, gen: Path, manifest: Manifest) -> None:
    """Raise IndexMismatchError, in one sentence naming the fix, unless every file of ``gen`` is as written."""
    if why := problem(gen, manifest):
        raise IndexMismatchError(f"The index at {root} cannot be trusted: {why}; rebuild it with: {REPAIR_HINT}")
