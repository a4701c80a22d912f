"""Build figures: our full build, an unchanged rebuild and a one-document change, against a baseline."""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

from passage_search.bench.common import peak_rss_mb, ratio


def subset_corpus(corpus: Path, docs: int | None, workdir: Path) -> Path:
    """The corpus as a BEIR corpus.jsonl (its first ``docs`` documents, if given) in ``workdir``.

    A folder of pages (the bundled corpus/, say) becomes one document per section, so the one-document edit
    below has documents to edit whatever the corpus.
    """
    source = corpus / "corpus.jsonl" if corpus.is_dir() else corpus
    if not source.is_file() or source.suffix != ".jsonl":
        source = _as_beir(corpus, workdir)
    if not docs:
        return source
    lines = []
    with open(source, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                lines.append(line)
            if len(lines) >= docs:
                break
    target = workdir / "corpus" / "corpus.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(lines), encoding="utf-8")
    return target


def _as_beir(corpus: Path, workdir: Path) -> Path:
    from passage_search.ingest.readers import read_corpus

    target = workdir / "beir" / "corpus.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8") as fh:
        for i, s in enumerate(read_corpus(corpus).sections):
            doc = {"_id": f"{s.doc_id}#{i}", "title": " › ".join(s.heading_path), "text": s.text}
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return target


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _edit_one_document(corpus_file: Path, workdir: Path) -> tuple[Path, str]:
    """A copy of the corpus with one document's text changed; returns the copy and the document id."""
    lines = corpus_file.read_text("utf-8").splitlines(keepends=True)
    target = workdir / "edited" / "corpus.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    record = json.loads(lines[len(lines) // 2])
    record["text"] = record["text"] + " This sentence was added to test incremental rebuilds."
    lines[len(lines) // 2] = json.dumps(record, ensure_ascii=False) + "\n"
    target.write_text("".join(lines), encoding="utf-8")
    return target, str(record["_id"])


def _counts(result: Any) -> dict[str, Any]:
    return {
        "passages": result.passages,
        "embedded": getattr(result, "embedded", None),
        "reused": getattr(result, "reused", None),
        "seconds": round(result.seconds, 2),
    }


def run_build(corpus: Path, workdir: Path, *, baseline_sample: int, backend: str | None) -> dict[str, Any]:
    """Our build (end to end: read, split, embed, BM25, write) then the baseline's encode + Flat add."""
    import faiss
    import numpy as np

    from passage_search.embed.model_folder import default_model_path
    from passage_search.index.build import build_index
    from passage_search.index.manifest import resolve
    from passage_search.index.store import load_index
    from passage_search.passage import embedding_text

    out = workdir / "index"
    kwargs: dict[str, Any] = {"backend": backend} if backend else {}
    start = time.perf_counter()
    full = build_index(corpus, out, **kwargs)
    full_s = time.perf_counter() - start
    rss = peak_rss_mb()
    loaded = load_index(out)
    size = folder_bytes(resolve(out))
    corpus_file = corpus / "corpus.jsonl" if corpus.is_dir() else corpus

    start = time.perf_counter()
    again = build_index(corpus, out, **kwargs)
    again_s = time.perf_counter() - start

    edited_file, edited_id = _edit_one_document(corpus_file, workdir)
    edited_out = workdir / "index-edited"
    shutil.rmtree(edited_out, ignore_errors=True)  # left by an earlier run in the same --workdir
    shutil.copytree(out, edited_out, symlinks=True)  # the full index of the original corpus to start from
    start = time.perf_counter()
    changed = build_index(edited_file, edited_out, **kwargs)
    changed_s = time.perf_counter() - start
    doc_passages = sum(p.doc_id == edited_id for p in load_index(edited_out).passages)

    # The baseline a newcomer would write: sentence-transformers' encode (its default threads and
    # batch size) and a FAISS Flat index, on a random sample of the same passages (throughput is a rate).
    from sentence_transformers import SentenceTransformer

    texts = [embedding_text(p, with_headings=loaded.manifest.embed_headings) for p in loaded.passages]
    sample = random.Random(3).sample(texts, min(baseline_sample, len(texts)))
    model = SentenceTransformer(str(default_model_path()), device="cpu")
    model.encode(sample[:8])
    start = time.perf_counter()
    vectors = model.encode(sample, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    baseline_s = time.perf_counter() - start
    baseline_pps = len(sample) / baseline_s
    ours_pps = full.passages / full_s
    return {
        "documents": full.documents,
        "passages": full.passages,
        "backend": getattr(loaded.manifest.model, "backend", "torch"),
        "index_type": getattr(loaded.manifest, "index_type", "flat"),
        "full_build_s": round(full_s, 2),
        "passages_per_s": round(ours_pps, 1),
        "peak_rss_mb": round(rss, 1),
        "index_bytes_per_passage": round(size / max(1, full.passages)),
        "unchanged_rebuild": {**_counts(again), "share_of_full": round(again_s / full_s, 4)},
        "one_document_changed": {**_counts(changed), "document_passages": doc_passages,
                                 "share_of_full": round(changed_s / full_s, 4)},
        "baseline": {"sample_passages": len(sample), "seconds": round(baseline_s, 2),
                     "passages_per_s": round(baseline_pps, 1)},
        "ratio_passages_per_s": ratio(ours_pps, baseline_pps),
        "index": str(out),
    }
