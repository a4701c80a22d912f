"""Build an index from a corpus: read, split, embed, write. The one way every face builds an index."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from .embedder import Embedder, SentenceTransformerEmbedder
from .errors import CorpusError, IndexMismatchError, IndexNotFoundError
from .index import Manifest, ModelInfo, heading_paths, read_manifest, write_index
from .lexical import ANALYZER, LexicalIndex
from .readers import META_SUFFIX, corpus_files, read_corpus
from .splitter import embedding_text, make_passages
from .vocab import load_vocabulary


@dataclass(frozen=True)
class BuildResult:
    path: Path
    documents: int
    passages: int
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)


def corpus_fingerprint(corpus: Path) -> str:
    """A hash of every file under the corpus (names and bytes), sidecar metadata included."""
    digest = hashlib.sha256()
    for path, _reason in corpus_files(corpus):
        candidates = [path, path.with_name(path.name.rsplit(".", 1)[0] + META_SUFFIX)]
        for item in candidates:
            if not item.is_file():
                continue
            rel = item.relative_to(corpus) if corpus.is_dir() else Path(item.name)
            # The path, not just the name: moving a file changes its document id.
            digest.update(rel.as_posix().encode() + b"\0")
            try:
                with open(item, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(block)
            except OSError:
                digest.update(b"<unreadable>")
    return digest.hexdigest()[:16]


def build_index(
    corpus: Path,
    out: Path,
    *,
    embedder: Embedder | None = None,
    model: str | None = None,
    embed_headings: bool = True,
    query_prefix: str = "",
    passage_prefix: str = "",
    overlap: int = 1,
    batch_size: int = 32,
    heading_weight: int = 1,
    progress: bool = False,
) -> BuildResult:
    """Index every supported file under ``corpus`` into the index folder ``out``.

    Args:
        embedder: the model to embed with; by default a sentence-transformers model (``model``: a local
            path, or None for the packaged all-MiniLM-L6-v2).
        embed_headings: prepend each passage's heading path to the text the model sees.
        overlap: sentences shared by consecutive pieces of a section too long for the model.
        heading_weight: how many times the heading path counts in a passage's BM25 text.
    Returns:
        counts, time taken and the files skipped with their reasons.
    """
    start = time.perf_counter()
    fingerprint = corpus_fingerprint(corpus)
    report = read_corpus(corpus)
    if not report.sections:
        reasons = "; ".join(f"{name}: {why}" for name, why in report.skipped[:5])
        raise CorpusError(
            f"No passages found in {corpus}" + (f" ({reasons})" if reasons else "") + "; add .txt, .md, .html "
            "or BEIR corpus.jsonl files."
        )
    emb = embedder or SentenceTransformerEmbedder(model)
    passages = make_passages(
        report.sections,
        count_tokens=emb.count_tokens,
        max_tokens=emb.max_tokens,
        with_headings=embed_headings,
        prefix=passage_prefix,
        overlap=overlap,
    )
    texts = [embedding_text(p, with_headings=embed_headings, prefix=passage_prefix) for p in passages]
    vectors = emb.embed(texts, batch_size=batch_size, progress=progress)
    # Each heading path is embedded on its own too: questions often name the topic and the kind of
    # answer ("outlook", "treatment") that a heading states and a long passage only implies.
    heading_vectors = emb.embed([passage_prefix + h for h in heading_paths(passages)], batch_size=batch_size)
    vocabulary = load_vocabulary()
    lexical = LexicalIndex.build(passages, vocabulary, heading_weight=heading_weight)
    manifest = Manifest(
        model=ModelInfo(
            name=emb.name,
            fingerprint=emb.fingerprint,
            dimension=int(vectors.shape[1]),
            max_tokens=emb.max_tokens,
            path=str(getattr(emb, "path", "")),
        ),
        passage_count=len(passages),
        document_count=report.documents,
        corpus_fingerprint=fingerprint,
        corpus=str(corpus),
        embed_headings=embed_headings,
        query_prefix=query_prefix,
        passage_prefix=passage_prefix,
        lexical={"analyzer": ANALYZER, "vocabulary": vocabulary.fingerprint, "heading_weight": heading_weight},
    )
    path = write_index(out, manifest, passages, vectors, lexical, heading_vectors)
    return BuildResult(path, report.documents, len(passages), time.perf_counter() - start, report.skipped)


def staleness(corpus: Path, out: Path, *, model_fingerprint: str | None = None) -> str | None:
    """Why the index at ``out`` needs a rebuild from ``corpus`` (None: it is up to date)."""
    try:
        manifest = read_manifest(out)
    except IndexNotFoundError:
        return "there is no index yet"
    except IndexMismatchError as exc:
        return str(exc)
    if manifest.corpus_fingerprint != corpus_fingerprint(corpus):
        return f"the corpus {corpus} changed since the index was built"
    if model_fingerprint is not None and manifest.model.fingerprint != model_fingerprint:
        return "the configured model differs from the one the index was built with"
    if manifest.lexical.get("vocabulary") != load_vocabulary().fingerprint:
        return "the shipped vocabulary (spelling and lay terms) changed since the index was built"
    return None
