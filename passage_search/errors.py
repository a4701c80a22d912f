"""Errors the entry points turn into one sentence for the user."""

from __future__ import annotations


class PassageSearchError(Exception):
    """Base class: the message is a complete sentence that says what to do."""


class CorpusError(PassageSearchError):
    """The corpus cannot be read or holds nothing to index."""


class IndexNotFoundError(PassageSearchError):
    """No index where one was expected."""


class IndexMismatchError(PassageSearchError):
    """The index on disk does not fit the configured model, format or itself."""


class IndexWriteError(PassageSearchError):
    """A build could not write its new generation (disk full, permissions); the previous one still serves."""


class ModelError(PassageSearchError):
    """The embedding model cannot be loaded."""


class QueryError(PassageSearchError):
    """The question cannot be searched as given."""


class BuildLockedError(PassageSearchError):
    """Another build of the same index folder is running."""


class FeedbackError(PassageSearchError):
    """The feedback database or export folder cannot be used."""


class VectorStoreError(PassageSearchError):
    """The external vector store (Milvus) cannot be reached, or lacks what was asked of it."""


class DistributedError(PassageSearchError):
    """A build on Ray cannot start or did not finish (Ray missing, no cluster, a worker failed)."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of a library's exception message (its type if it has none), to quote in our sentence."""
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0][:limit].rstrip(".") if text else type(exc).__name__


def sentence(exc: BaseException) -> str:
    """One sentence for the user about any exception an entry point catches: ours as written, others described.

    Every face (CLI, page, HTTP) shows this instead of a traceback; nothing is lost because the operation
    that raised never replaced anything (index generations and feedback writes are atomic).
    """
    import errno

    if isinstance(exc, PassageSearchError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"The disk is full{where}; free some space and try again."
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"Permission denied{where}; check who owns the folder, or choose another."
        if exc.errno == errno.ELOOP:
            return f"A symbolic link loops{where}; point it at a real folder, or rebuild with --force."
        return f"A file could not be read or written{where}: {first_line(exc)}."
    if isinstance(exc, MemoryError):
        return "Out of memory; close other programs or use a smaller corpus."
    # FAISS (RuntimeError with C++ text), numpy (ValueError, IndexError) and the like: a damaged file or a bug.
    return (
        f"Something went wrong ({type(exc).__name__}: {first_line(exc, 160)}); if it concerns the index, "
        "rebuild it with: passage-search build --force."
    )
