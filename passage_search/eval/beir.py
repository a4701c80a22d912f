"""BEIR test sets: corpus.jsonl, queries.jsonl and qrels, read into a ``Dataset``; the seed set as one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passage_search.errors import PassageSearchError
from passage_search.passage import HEADING_SEPARATOR


class EvalError(PassageSearchError):
    """The dataset or the evaluation settings cannot be used as given."""


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Dataset:
    """A BEIR-style test set. Only queries with at least one positive judgement are kept."""

    name: str
    corpus: Mapping[str, Document]
    queries: Mapping[str, str]
    qrels: Mapping[str, Mapping[str, int]]
    corpus_file: Path | None = None  # None: the corpus exists only in memory (the seed set)
    ignored_queries: int = 0  # queries without a positive judgement, or with no text
    ignored_qrels: int = 0  # judgements for query ids missing from the query file


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _jsonl(path: Path, what: str, key: str = "_id") -> Iterator[dict[str, Any]]:
    for n, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row[key]
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{path} line {n} is not a {what} ({exc!r}); fix or remove it.") from exc
        yield row


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text("utf-8-sig").splitlines()
    except FileNotFoundError as exc:
        raise EvalError(
            f"{path} is missing; a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/test.tsv."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"{path} cannot be read as UTF-8 text ({exc}).") from exc


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR ``query-id corpus-id score`` (or TREC ``qid 0 docid rel``) lines; scores <= 0 are dropped."""
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(_lines(path), 1):
        parts = line.split("\t") if "\t" in line else line.split()
        if not line.strip():
            continue
        if len(parts) == 4:
            parts = [parts[0], parts[2], parts[3]]
        try:
            qid, doc, score = parts[0].strip(), parts[1].strip(), int(float(parts[2]))
        except (ValueError, IndexError) as exc:
            if n == 1:
                continue  # the header line
            raise EvalError(f"{path} line {n} is not 'query-id<TAB>corpus-id<TAB>score'; fix it.") from exc
        if score > 0:
            qrels.setdefault(qid, {})[doc] = max(score, qrels.get(qid, {}).get(doc, 0))
    return qrels


def _dataset(
    name: str,
    corpus: dict[str, Document],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    corpus_file: Path | None,
) -> Dataset:
    kept = {qid: text for qid, text in queries.items() if qrels.get(qid) and text.strip()}
    return Dataset(
        name=name,
        corpus=corpus,
        queries=kept,
        qrels={qid: qrels[qid] for qid in kept},
        corpus_file=corpus_file,
        ignored_queries=len(queries) - len(kept),
        ignored_qrels=sum(len(rel) for qid, rel in qrels.items() if qid not in queries),
    )


def load_beir(
    folder: Path,
    queries: Path | None = None,
    qrels: Path | None = None,
    *,
    corpus: Path | None = None,
    split: str | None = None,
    splits: Path | None = None,
) -> Dataset:
    """Read a BEIR folder; ``queries``, ``qrels`` and ``corpus`` replace its files when given.

    ``split`` ("tune" or "test") keeps only that part of the questions: each question's
    ``metadata.split``, else its row in the ``splits`` TSV (``id<TAB>question<TAB>split``, matched by id,
    then by question text).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise EvalError(f"The dataset folder {folder} does not exist; pass a BEIR folder.")
    corpus_file = corpus or folder / "corpus.jsonl"
    docs: dict[str, Document] = {}
    for row in _jsonl(corpus_file, "BEIR document"):
        doc_id = str(row["_id"])
        if doc_id in docs:  # the first of two documents with one _id counts, as in a build (ingest/beir.py)
            continue
        docs[doc_id] = Document(doc_id, str(row.get("title") or ""), str(row.get("text") or ""))
    rows = list(_jsonl(queries or folder / "queries.jsonl", "query"))
    asked = {str(r["_id"]): str(r.get("text") or "") for r in rows}
    judged = read_qrels(qrels or folder / "qrels" / "test.tsv")
    name = folder.resolve().name
    if split is not None:
        asked = _part(asked, rows, split, splits, name)
        name = f"{name}-{split}"
    return _dataset(name, docs, asked, judged, corpus_file)


SPLITS = ("tune", "test")


def _part(
    asked: dict[str, str], rows: list[dict[str, Any]], split: str, splits: Path | None, name: str
) -> dict[str, str]:
    """The questions of one part of a set split into tune and test (see tests/data/splits/README.md)."""
    if split not in SPLITS:
        raise EvalError(f"Unknown split {split!r}; choose tune or test.")
    by_id: dict[str, str] = {}
    by_text: dict[str, str] = {}
    if splits is not None:
        for line in _lines(splits)[1:]:
            cells = line.split("\t")
            if len(cells) == 3:
                by_id[cells[0]] = by_text[" ".join(cells[1].split())] = cells[2].strip()
    kept = {}
    for row in rows:
        qid = str(row["_id"])
        meta = row.get("metadata")
        part = meta.get("split") if isinstance(meta, dict) else None
        part = part or by_id.get(qid) or by_text.get(" ".join(asked[qid].split()))
        if part is None:
            raise EvalError(f"Question {qid} of {name} has no split; pass --splits with a file that lists it.")
        if part == split:
            kept[qid] = asked[qid]
    return kept


def seed_dataset(corpus_dir: Path, questions_file: Path, *, name: str = "seed") -> Dataset:
    """A BEIR view of a corpus folder: one document per section, questions judged by heading path."""
    from passage_search.ingest.readers import read_corpus

    docs: dict[str, Document] = {}
    by_path: dict[tuple[str, ...], list[str]] = {}
    for section in read_corpus(corpus_dir).sections:
        base = doc_id = slug(section.heading_path[-1])
        n = 2
        while doc_id in docs:
            doc_id, n = f"{base}-{n}", n + 1
        docs[doc_id] = Document(doc_id, HEADING_SEPARATOR.join(section.heading_path), section.text)
        by_path.setdefault(section.heading_path, []).append(doc_id)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for i, row in enumerate(_jsonl(questions_file, "seed question", key="question"), 1):
        qid = f"q{i:02d}"
        queries[qid] = str(row["question"])
        for doc_id in by_path.get(tuple(row.get("heading_path") or ()), []):
            qrels.setdefault(qid, {})[doc_id] = 1
    return _dataset(name, docs, queries, qrels, None)


def corpus_jsonl(dataset: Dataset) -> str:
    docs = dataset.corpus.values()
    return "".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text}, ensure_ascii=False) + "\n" for d in docs)


def write_beir(dataset: Dataset, folder: Path) -> None:
    """Write ``dataset`` as a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text(corpus_jsonl(dataset), "utf-8")
    lines = [json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n" for q, t in dataset.queries.items()]
    (folder / "queries.jsonl").write_text("".join(lines), "utf-8")
    rows = [f"{q}\t{d}\t{s}\n" for q, rel in dataset.qrels.items() for d, s in rel.items()]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(rows), "utf-8")


# ---- the index ------------------------------------------------------------------------------------------
