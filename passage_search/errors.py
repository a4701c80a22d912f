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
