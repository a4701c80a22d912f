"""Build an index from a corpus: read, split, embed, write. The one way every face builds an index."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from passage_search import __version__
from passage_search.analysis import ANALYZER, load_vocabulary
from passage_search.embed.base import Embedder
from passage_search.embed.factory import make_embedder
from passage_search.errors import CorpusError, IndexMismatchError, IndexNotFoundError, PassageSearchError
from passage_search.index import ann
from passage_search.index.cache import (
    EmbedEngine,
    VectorCache,
    embed_with_cache,
    has_plain_vectors,
    local_engine,
    previous_vectors,
)
from passage_search.index.lexical import LexicalIndex
from passage_search.index.lock import build_lock
from passage_search.index.manifest import Manifest, ModelInfo, read_manifest, resolve
from passage_search.index.store import heading_paths, load_index, write_index
from passage_search.ingest.readers import META_SUFFIX, corpus_files, read_corpus
from passage_search.ingest.splitter import make_passages
from passage_search.passage import embedding_text


@dataclass(frozen=True)
class BuildResult:
    """What a build did: ``embedded`` passages went through the model, ``reused`` came from the previous index.

    ``up_to_date``: the index already matched the corpus, model and settings, so nothing was written (its
    ``skipped`` then lists only the files skipped for their type, which needs no reading).
    """

    path: Path
    documents: int
    passages: int
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)
    embedded: int = 0
    reused: int = 0
    up_to_date: bool = False


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
    backend: str | None = None,
    embed_headings: bool = True,
    query_prefix: str = "",
    passage_prefix: str = "",
    overlap: int = 1,
    batch_size: int = 32,
    heading_weight: int = 1,
    progress: bool = False,
    force: bool = False,
    index_type: str = "auto",
    wait: float = 0.0,
    engine: EmbedEngine = local_engine,
) -> BuildResult:
    """Index every supported file under ``corpus`` into the index folder ``out``.

    The index already at ``out`` is the embedding cache: a passage (or heading) whose embedding text it
    holds, embedded by the same model, keeps its vector; only new texts are embedded. When the corpus,
    model, vocabulary and settings all match it, nothing is rebuilt.

    Args:
        embedder: the model to embed with; by default a sentence-transformers model (``model``: a local
            path, or None for the packaged all-MiniLM-L6-v2) run by ``backend`` (see embedder.make_embedder).
        embed_headings: prepend each passage's heading path to the text the model sees.
        overlap: sentences shared by consecutive pieces of a section too long for the model.
        heading_weight: how many times the heading path counts in a passage's BM25 text.
        force: rebuild and re-embed everything, reusing nothing from the index at ``out``.
        index_type: the passage vector index: "flat" (exact), "hnsw", "ivf", or "auto" (by passage count,
            see ann.choose).
        wait: seconds to wait for another build of ``out`` to finish before refusing.
        engine: how texts the previous index lacks get embedded: here (default), or on a Ray cluster
            (``distributed.RayEngine``); nothing else about the build differs, the index written included.
    Returns:
        counts (passages embedded and reused), time taken and the files skipped with their reasons.
    Raises:
        BuildLockedError: another build of ``out`` is still running after ``wait`` seconds.
    """
    with build_lock(out, wait=wait):
        return _build(
            corpus, out, embedder=embedder, model=model, backend=backend, embed_headings=embed_headings,
            query_prefix=query_prefix, passage_prefix=passage_prefix, overlap=overlap, batch_size=batch_size,
            heading_weight=heading_weight, progress=progress, force=force, index_type=index_type, engine=engine,
        )


def _build(
    corpus: Path,
    out: Path,
    *,
    embedder: Embedder | None,
    model: str | None,
    backend: str | None,
    embed_headings: bool,
    query_prefix: str,
    passage_prefix: str,
    overlap: int,
    batch_size: int,
    heading_weight: int,
    progress: bool,
    force: bool,
    index_type: str,
    engine: EmbedEngine,
) -> BuildResult:
    start = time.perf_counter()
    fingerprint = corpus_fingerprint(corpus)
    emb = embedder or make_embedder(model, backend=backend)
    vocabulary = load_vocabulary()
    lexical_settings = {"analyzer": ANALYZER, "vocabulary": vocabulary.fingerprint, "heading_weight": heading_weight}
    ann.choose(0, index_type)  # an unknown type fails before any embedding
    settings = {"overlap": overlap, "index_type": index_type}
    if not force:
        wanted = _build_key(
            emb.fingerprint, fingerprint, str(corpus), embed_headings, query_prefix, passage_prefix,
            lexical_settings, settings,
        )
        current = _up_to_date(out, wanted, emb)
        if current is not None:
            skipped = [(_shown(corpus, path), why) for path, why in corpus_files(corpus) if why is not None]
            seconds = time.perf_counter() - start
            n = current.passage_count
            return BuildResult(resolve(out), current.document_count, n, seconds, skipped, 0, n, up_to_date=True)
    report = read_corpus(corpus)
    if not report.sections:
        reasons = "; ".join(f"{name}: {why}" for name, why in report.skipped[:5])
        raise CorpusError(
            f"No passages found in {corpus}" + (f" ({reasons})" if reasons else "") + "; add .txt, .md, .html "
            "or BEIR corpus.jsonl files."
        )
    passages = make_passages(
        report.sections,
        count_tokens=emb.count_tokens,
        max_tokens=emb.max_tokens,
        with_headings=embed_headings,
        prefix=passage_prefix,
        overlap=overlap,
        count_many=getattr(emb, "count_tokens_batch", None),
    )
    texts = [embedding_text(p, with_headings=embed_headings, prefix=passage_prefix) for p in passages]
    # Each heading path is embedded on its own too: questions often name the topic and the kind of
    # answer ("outlook", "treatment") that a heading states and a long passage only implies.
    headings = [passage_prefix + h for h in heading_paths(passages)]
    cache = VectorCache(emb.fingerprint) if force else previous_vectors(out, emb.fingerprint)
    # Passages and headings in one call, so an engine that starts workers (Ray) starts them and loads the
    # model once a build.
    both = embed_with_cache(emb, texts + headings, cache, batch_size=batch_size, progress=progress, engine=engine)
    done = both.part(0, len(texts))
    vectors, heading_vectors = done.vectors, both.part(len(texts), len(both.fresh)).vectors
    # BM25 is rebuilt every time: it takes a small fraction of embedding even the passages of one document.
    lexical = LexicalIndex.build(passages, vocabulary, heading_weight=heading_weight)
    spec = ann.choose(len(passages), index_type)
    heading_spec = ann.choose(len(headings), index_type)
    manifest = Manifest(
        model=ModelInfo(
            name=emb.name,
            fingerprint=emb.fingerprint,
            dimension=int(vectors.shape[1]),
            max_tokens=emb.max_tokens,
            path=str(getattr(emb, "path", "")),
            backend=str(getattr(emb, "backend", "")),
        ),
        passage_count=len(passages),
        document_count=report.documents,
        corpus_fingerprint=fingerprint,
        corpus=str(corpus),
        embed_headings=embed_headings,
        query_prefix=query_prefix,
        passage_prefix=passage_prefix,
        lexical=lexical_settings,
        index_type=spec.kind,
        index_params=spec.params,
        heading_index_type=heading_spec.kind,
        heading_index_params=heading_spec.params,
        settings=settings,
    )
    path = write_index(out, manifest, passages, vectors, lexical, heading_vectors)
    seconds = time.perf_counter() - start
    return BuildResult(path, report.documents, len(passages), seconds, report.skipped, done.embedded, done.reused)


def _build_key(
    model_fingerprint: str,
    corpus_fingerprint: str,
    corpus: str,
    embed_headings: bool,
    query_prefix: str,
    passage_prefix: str,
    lexical: dict[str, Any],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Everything a build's output depends on besides the code: equal keys, equal indexes."""
    return {
        "model": model_fingerprint,
        "corpus_fingerprint": corpus_fingerprint,
        "corpus": corpus,
        "embed_headings": embed_headings,
        "query_prefix": query_prefix,
        "passage_prefix": passage_prefix,
        "lexical": lexical,
        "settings": settings,
        "package_version": __version__,
    }


def _up_to_date(out: Path, wanted: dict[str, Any], emb: Embedder) -> Manifest | None:
    """The manifest of the index at ``out`` if it was built with exactly ``wanted`` and loads whole."""
    try:
        m = read_manifest(out)
    except PassageSearchError:
        return None
    have = _build_key(
        m.model.fingerprint, m.corpus_fingerprint, m.corpus, m.embed_headings, m.query_prefix,
        m.passage_prefix, m.lexical, m.settings,
    )
    have["package_version"] = m.package_version
    if have != wanted or m.model.max_tokens != emb.max_tokens:
        return None
    try:
        # Loading checks every file against the manifest: a damaged index is rebuilt, not kept.
        load_index(out)
    except PassageSearchError:
        return None
    # The next build's cache must be whole too (an index from before vectors.npy gets one now).
    return m if has_plain_vectors(out) else None


def _shown(corpus: Path, path: Path) -> str:
    return str(path.relative_to(corpus)) if corpus.is_dir() else path.name


def staleness(
    corpus: Path, out: Path, *, model_fingerprint: str | None = None, index_type: str | None = None
) -> str | None:
    """Why the index at ``out`` needs a rebuild from ``corpus`` (None: it is up to date)."""
    try:
        manifest = read_manifest(out)
    except IndexNotFoundError:
        return "there is no index yet"
    except IndexMismatchError as exc:
        return str(exc)
    if manifest.corpus_fingerprint != corpus_fingerprint(corpus):
        return f"the corpus {corpus} changed since the index was built"
    wanted = ann.choose(manifest.passage_count, index_type).kind if index_type is not None else None
    if wanted is not None and wanted != manifest.index_type:
        return f"the vector index is {manifest.index_type} and index type {index_type} asks for {wanted}"
    if model_fingerprint is not None and manifest.model.fingerprint != model_fingerprint:
        return "the configured model differs from the one the index was built with"
    if manifest.lexical.get("vocabulary") != load_vocabulary().fingerprint:
        return "the shipped vocabulary (spelling and lay terms) changed since the index was built"
    return None
