"""A search request's numbers checked before anything is searched: how many hits, and within which rows."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import TypeGuard

from passage_search.errors import QueryError


def checked_request(k: object, within: object, rows: int) -> tuple[int, frozenset[int] | None]:
    """``k`` (at most ``rows``) and ``within`` as searched; ``QueryError`` in one sentence if either cannot be.

    The mode is checked by ``SearchConfig``. A bool is no count, and row -1 is no row (not the last one).
    """

    def whole(value: object) -> TypeGuard[numbers.Integral]:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    def shown(value: object) -> str:  # 7, not np.int64(7)
        return str(int(value)) if whole(value) else repr(value)

    if not whole(k) or k < 1:
        raise QueryError(f"k must be a whole number of at least 1, not {shown(k)}.")
    if within is None:
        return min(int(k), rows), None
    if isinstance(within, str | bytes) or not isinstance(within, Iterable):
        raise QueryError(f"within must be a collection of passage rows, not a {type(within).__name__}.")
    asked = list(within)
    bad = [r for r in asked if not whole(r) or not 0 <= int(r) < rows]
    if bad:
        raise QueryError(f"within must hold passage rows from 0 to {rows - 1}, not {shown(bad[0])}.")
    return min(int(k), rows), frozenset(int(r) for r in asked)
