"""Opt-in relevance feedback: "was this passage helpful?" judgments in SQLite, exported as a BEIR test set.

Off unless ``$PASSAGE_SEARCH_FEEDBACK`` names a database file; nothing is written anywhere when it is off.
A judgment keeps the question, the passage and the label, plus the index it came from and the day (no
time of day). Nothing that identifies the person is stored: no session, address, browser or name. A thumb
clicked off again takes its judgment back (``withdraw``).
Only the standard library is imported here, so the CLI's ``feedback`` commands stay instant.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from passage_search.errors import FeedbackError
from passage_search.passage import HEADING_SEPARATOR, Hit

ENV_VAR = "PASSAGE_SEARCH_FEEDBACK"
SCHEMA_VERSION = 1  # PRAGMA user_version of a database this module wrote
BUSY_SECONDS = 5.0  # how long a write waits for another writer before giving up
EXPORT_MARKER = "feedback-export.json"  # marks a folder ``export_beir`` may overwrite
DOCUMENT_QRELS = "test-documents.tsv"  # the same judgments by document id, for ``eval --index``
QRELS_HEADER = "query-id\tcorpus-id\tscore\n"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgment (
    query        TEXT    NOT NULL,  -- as searched: white space folded, at most MAX_QUERY_CHARS
    passage_id   TEXT    NOT NULL,
    doc_id       TEXT    NOT NULL,
    heading_path TEXT    NOT NULL,  -- JSON list, document title first
    passage_text TEXT    NOT NULL,  -- kept so that an export needs no index
    label        INTEGER NOT NULL CHECK (label IN (0, 1)),  -- 1 helpful, 0 not helpful
    index_id     TEXT    NOT NULL DEFAULT '',  -- e.g. the index's corpus fingerprint
    day          TEXT    NOT NULL,  -- YYYY-MM-DD (UTC), no time of day
    PRIMARY KEY (query, passage_id)
)
"""
_COLUMNS = "query, passage_id, doc_id, heading_path, passage_text, label, index_id, day"


def feedback_path() -> Path | None:
    """The database named by ``$PASSAGE_SEARCH_FEEDBACK``; None (feedback off) when it is unset or empty."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


@dataclass(frozen=True)
class Judgment:
    query: str
    passage_id: str
    doc_id: str
    heading_path: tuple[str, ...]
    text: str
    helpful: bool
    index_id: str
    day: str  # YYYY-MM-DD

    @property
    def breadcrumb(self) -> str:
        return HEADING_SEPARATOR.join(self.heading_path)


class FeedbackStore:
    """Judgments in one SQLite file. Safe to share between threads: each call opens its own connection.

    The folder, file and schema are created by the first ``record``; reading a missing file finds nothing.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # one writer at a time in this process; SQLite's busy wait across them

    def record(self, query: str, hit: Hit, helpful: bool, *, index_id: str = "") -> None:
        """Store that ``hit`` was (not) helpful for ``query``, replacing an earlier judgment of the pair.

        Args:
            index_id: which index the hit came from, e.g. ``searcher.manifest.corpus_fingerprint``.

        Raises:
            QueryError: the question is empty once cleaned.
            FeedbackError: the file cannot be used (not SQLite, locked, unwritable).
        """
        # Imported here: the searcher pulls in numpy and the index stack, which stats and export do not need.
        from passage_search.search.query import clean_query

        if not isinstance(hit, Hit):
            raise FeedbackError("Only a search hit can be judged.")
        p = hit.passage
        row = (
            clean_query(query),
            p.id,
            p.doc_id,
            json.dumps(list(p.heading_path), ensure_ascii=False),
            p.text,
            int(bool(helpful)),
            str(index_id),
            time.strftime("%Y-%m-%d", time.gmtime()),
        )
        with self._lock, self._connect(write=True) as conn:
            assert conn is not None  # a writer always gets one
            with conn:  # one transaction: committed whole or rolled back
                conn.execute(f"INSERT OR REPLACE INTO judgment ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def withdraw(self, query: str, hit: Hit, helpful: bool) -> bool:
        """Remove the judgment that ``hit`` was (not) helpful for ``query``: the person clicked their thumb off.

        Only a stored judgment with the same label is removed; one given since by someone else (the other
        label) stays. Returns whether a judgment was removed.

        Raises:
            QueryError: the question is empty once cleaned.
            FeedbackError: the file cannot be used (not SQLite, locked, unwritable).
        """
        from passage_search.search.query import clean_query  # see ``record``

        if not isinstance(hit, Hit):
            raise FeedbackError("Only a search hit can be judged.")
        if not self.path.is_file():
            return False
        key = (clean_query(query), hit.passage.id, int(bool(helpful)))
        with self._lock, self._connect(write=True) as conn:
            assert conn is not None  # a writer always gets one
            with conn:
                cursor = conn.execute("DELETE FROM judgment WHERE query = ? AND passage_id = ? AND label = ?", key)
        return cursor.rowcount > 0

    def judgments(self) -> list[Judgment]:
        """Every judgment, oldest day first."""
        with self._connect(write=False) as conn:
            if conn is None:
                return []
            rows = conn.execute(f"SELECT {_COLUMNS} FROM judgment ORDER BY day, query, passage_id").fetchall()
        return [
            Judgment(q, pid, doc, tuple(json.loads(path)), text, bool(label), index_id, day)
            for q, pid, doc, path, text, label, index_id, day in rows
        ]

    def count(self) -> int:
        with self._connect(write=False) as conn:
            return 0 if conn is None else int(conn.execute("SELECT COUNT(*) FROM judgment").fetchone()[0])

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection | None]:
        """A connection with the schema in place; None when reading a file that holds no judgments yet."""
        if not write and not self.path.is_file():
            yield None
            return
        conn: sqlite3.Connection | None = None
        try:
            if write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=BUSY_SECONDS)
            else:  # read-only, so that a look never creates or changes the file
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_SECONDS)
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise FeedbackError(
                    f"The feedback file {self.path} was written by a newer passage-search; upgrade to use it."
                )
            if version < SCHEMA_VERSION:
                if not write:
                    yield None
                    return
                with conn:
                    conn.execute(_SCHEMA)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            yield conn
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from exc
        except OSError as exc:
            raise FeedbackError(f"The feedback file {self.path} cannot be created ({exc.strerror or exc}).") from exc
        finally:
            if conn is not None:
                conn.close()


def _explain(path: Path, exc: sqlite3.Error) -> FeedbackError:
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text or "encrypted" in text:
        return FeedbackError(
            f"The feedback file {path} is not a SQLite database; move it away or set {ENV_VAR} to another file."
        )
    if "locked" in text or "busy" in text:
        return FeedbackError(f"The feedback file {path} is locked by another program; try again in a moment.")
    return FeedbackError(f"The feedback file {path} cannot be used ({exc}).")


# ---- summaries and the BEIR export ------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackStats:
    judgments: int
    queries: int
    passages: int
    helpful: int

    @property
    def helpful_share(self) -> float:
        return self.helpful / self.judgments if self.judgments else 0.0


def feedback_stats(judgments: Iterable[Judgment]) -> FeedbackStats:
    rows = list(judgments)
    return FeedbackStats(
        judgments=len(rows),
        queries=len({j.query for j in rows}),
        passages=len({j.passage_id for j in rows}),
        helpful=sum(j.helpful for j in rows),
    )


@dataclass(frozen=True)
class ExportSummary:
    folder: Path
    judgments: int
    queries: int  # questions written: those with at least one helpful passage
    skipped_queries: int  # questions whose every judged passage was not helpful
    documents: int  # judged passages, each one document of corpus.jsonl


def query_id(query: str) -> str:
    """A stable id for a question: the same text gets the same id in every export."""
    return "fb-" + hashlib.sha256(query.encode("utf-8")).hexdigest()[:12]


def export_beir(source: FeedbackStore | Iterable[Judgment], out: Path) -> ExportSummary:
    """Write the judgments as a BEIR folder that ``passage-search eval OUT`` scores.

    ``corpus.jsonl`` holds every judged passage (``_id`` passage id, ``title`` breadcrumb), ``queries.jsonl``
    the questions with at least one helpful passage, ``qrels/test.tsv`` their labels by passage id (1 helpful,
    0 not helpful: eval drops 0 rows, so those count as non-relevant, as unjudged passages do), and
    ``qrels/test-documents.tsv`` the same by document id (helpful if any passage was) for ``--index``.

    Raises:
        FeedbackError: no question has a helpful passage, or ``out`` holds a dataset this did not write.
    """
    out = Path(out)
    rows = source.judgments() if isinstance(source, FeedbackStore) else list(source)
    by_query: dict[str, list[Judgment]] = {}
    for j in rows:
        by_query.setdefault(j.query, []).append(j)
    kept = {q: js for q, js in by_query.items() if any(j.helpful for j in js)}
    if not kept:
        raise FeedbackError(
            f"None of the {len(by_query)} judged questions has a passage marked helpful, so there is nothing to score."
        )
    if (out / "corpus.jsonl").exists() and not (out / EXPORT_MARKER).exists():
        raise FeedbackError(f"{out} already holds a dataset that is not a feedback export; choose another --out.")
    docs = {j.passage_id: j for j in rows}
    corpus = [{"_id": pid, "title": j.breadcrumb, "text": j.text} for pid, j in sorted(docs.items())]
    queries = [{"_id": query_id(q), "text": q} for q in sorted(kept)]
    passage_rows: list[str] = []
    doc_labels: dict[tuple[str, str], int] = {}
    for q in sorted(kept):
        for j in sorted(kept[q], key=lambda j: j.passage_id):
            passage_rows.append(f"{query_id(q)}\t{j.passage_id}\t{int(j.helpful)}\n")
            key = (query_id(q), j.doc_id)
            doc_labels[key] = max(doc_labels.get(key, 0), int(j.helpful))
    summary = ExportSummary(out, len(rows), len(kept), len(by_query) - len(kept), len(docs))
    try:
        (out / "qrels").mkdir(parents=True, exist_ok=True)
        _write(out / "corpus.jsonl", "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in corpus))
        _write(out / "queries.jsonl", "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries))
        _write(out / "qrels" / "test.tsv", QRELS_HEADER + "".join(passage_rows))
        doc_rows = (f"{q}\t{doc}\t{label}\n" for (q, doc), label in doc_labels.items())
        _write(out / "qrels" / DOCUMENT_QRELS, QRELS_HEADER + "".join(doc_rows))
        marker = {k: v for k, v in vars(summary).items() if k != "folder"}
        _write(out / EXPORT_MARKER, json.dumps(marker, indent=2) + "\n")
    except OSError as exc:
        raise FeedbackError(f"The export folder {out} cannot be written ({exc.strerror or exc}).") from exc
    return summary


def _write(path: Path, text: str) -> None:
    """Write through a temporary file, so an interrupted export never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)
