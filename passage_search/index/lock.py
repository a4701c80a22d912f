"""The build lock: one build of an index folder at a time (an advisory ``flock``, released if the process dies)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from passage_search.errors import BuildLockedError

LOCK = ".build.lock"


@contextmanager
def build_lock(root: Path, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the index folder's build lock (an advisory ``flock``, released if the process dies).

    Raises:
        BuildLockedError: another process holds it for longer than ``wait`` seconds.
    """
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a+") as fh:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another process"
                    raise BuildLockedError(
                        f"Another build of the index at {root} is running ({holder}); wait for it to finish, "
                        "then build again."
                    ) from None
                time.sleep(0.2)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
