"""Build an index from a corpus: read, split, embed, write. The one way every face builds an index."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from passage_search.analysis import ANALYZER, load_vocabulary
from passage_search.embed.base import Embedder
from passage_search.embed.factory import make_embedder
from passage_search.errors import CorpusError
from passage_search.index import ann
from passage_search.index.cache import EmbedEngine, embed_with_cache, local_engine, previous_vectors
from passage_search.index.calibration import calibrate, probe_digest, probe_vectors
from passage_search.index.lexical import LexicalIndex
from passage_search.index.lock import build_lock
from passage_search.index.manifest import BuildKey, Manifest, ModelInfo, read_manifest, resolve
from passage_search.index.previous import Previous, previous_generation
from passage_search.index.scan import corpus_fingerprint, scan_corpus
from passage_search.index.store import heading_paths, stale_reason
from passage_search.index.writer import remove_leftovers, write_index
from passage_search.ingest.readers import read_corpus
from passage_search.ingest.splitter import Reuse, split_documents
from passage_search.passage import embedding_text

# Defaults of the build settings that have no command-line flag, for callers that state every setting.
OVERLAP = 1
HEADING_WEIGHT = 1


@dataclass(frozen=True)
class BuildResult:
    """What a build did: ``embedded`` passages went through the model, ``reused`` came from the previous index.

    ``up_to_date``: the index already matched the corpus, model and settings, so nothing was written (its
    ``skipped`` then lists only the files skipped for their type or size, which needs no parsing).
    ``resplit``: documents cut into passages anew; the others kept their passages from the previous index.
    """

    path: Path
    documents: int
    passages: int
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)
    embedded: int = 0
    reused: int = 0
    up_to_date: bool = False
    resplit: int = 0
    # What the build noticed and worked around: a previous index it could not trust, leftovers it removed.
    notes: list[str] = field(default_factory=list)


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
    overlap: int = OVERLAP,
    batch_size: int = 32,
    heading_weight: int = HEADING_WEIGHT,
    progress: bool = False,
    force: bool = False,
    index_type: str = "auto",
    wait: float = 0.0,
    engine: EmbedEngine = local_engine,
) -> BuildResult:
    """Index every supported file under ``corpus`` into the index folder ``out``.

    The index already at ``out`` is the cache: a document whose sections and split settings are unchanged
    keeps its passages, and a passage (or heading) whose embedding text it holds, embedded by the same
    model, keeps its vector; only new texts are embedded. When it is up to date (``staleness``), nothing
    is rebuilt. Every corpus file is read once.

    Args:
        embedder: the model to embed with; by default a sentence-transformers model (``model``: a local
            path, or None for the packaged all-MiniLM-L6-v2) run by ``backend`` (see embedder.make_embedder).
        embed_headings: prepend each passage's heading path to the text the model sees.
        overlap: sentences shared by consecutive pieces of a section too long for the model.
        heading_weight: how many times the heading path counts in a passage's BM25 text.
        force: rebuild, re-split and re-embed everything, reusing nothing from the index at ``out``.
        index_type: the passage vector index: "flat" (exact), "hnsw", "ivf", or "auto" (by passage count,
            see ann.choose).
        wait: seconds to wait for another build of ``out`` to finish before refusing.
        engine: how texts the previous index lacks get embedded: here (default), or on a Ray cluster
            (``distributed.RayEngine``); nothing else about the build differs, the index written included.
    Returns:
        counts (passages embedded and reused, documents split anew), time taken and the files skipped with
        their reasons.
    Raises:
        BuildLockedError: another build of ``out`` is still running after ``wait`` seconds.
    """
    with build_lock(out, wait=wait):
        removed = remove_leftovers(out)
        result = _build(
            corpus,
            out,
            embedder=embedder,
            model=model,
            backend=backend,
            embed_headings=embed_headings,
            query_prefix=query_prefix,
            passage_prefix=passage_prefix,
            overlap=overlap,
            batch_size=batch_size,
            heading_weight=heading_weight,
            progress=progress,
            force=force,
            index_type=index_type,
            engine=engine,
        )
    if removed:
        note = f"removed {len(removed)} leftover(s) of interrupted builds ({', '.join(sorted(removed)[:3])})"
        result = replace(result, notes=[note, *result.notes])
    return result


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
    scan = scan_corpus(corpus)
    fingerprint = scan.fingerprint
    emb = embedder or make_embedder(model, backend=backend)
    vocabulary = load_vocabulary()
    lexical_settings = {"analyzer": ANALYZER, "vocabulary": vocabulary.fingerprint, "heading_weight": heading_weight}
    ann.choose(0, index_type)  # an unknown type fails before any embedding
    settings = {"overlap": overlap, "index_type": index_type}
    if not force:
        want = BuildKey(
            fingerprint,
            str(corpus),
            vocabulary.fingerprint,
            ANALYZER,
            model_fingerprint=emb.fingerprint,
            max_tokens=emb.max_tokens,
            embed_headings=embed_headings,
            query_prefix=query_prefix,
            passage_prefix=passage_prefix,
            overlap=overlap,
            index_type=index_type,
            heading_weight=heading_weight,
        )
        if stale_reason(out, want) is None:
            current = read_manifest(out)
            seconds, n = time.perf_counter() - start, current.passage_count
            return BuildResult(resolve(out), current.document_count, n, seconds, scan.skipped, 0, n, up_to_date=True)
    report = read_corpus(corpus, scan.files)
    del scan  # the corpus's bytes: only the sections are needed from here on
    if not report.sections:
        reasons = "; ".join(f"{name}: {why}" for name, why in report.skipped[:5])
        raise CorpusError(
            f"No passages found in {corpus}" + (f" ({reasons})" if reasons else "") + "; add .txt, .md, .html, "
            ".pdf, .docx or BEIR corpus.jsonl files."
        )
    previous, distrust = (None, None) if force else previous_generation(out)
    notes = [f"only the intact files of the previous index were reused: {distrust}"] if distrust else []
    # Unchanged documents keep their passages: splitting and counting tokens took two thirds of a rebuild
    # after a one-document edit.
    split = split_documents(
        report.sections,
        reuse=_reuse(previous),
        model=emb.fingerprint,
        count_tokens=emb.count_tokens,
        max_tokens=emb.max_tokens,
        with_headings=embed_headings,
        prefix=passage_prefix,
        overlap=overlap,
        count_many=getattr(emb, "count_tokens_batch", None),
    )
    passages = split.passages
    texts = [embedding_text(p, with_headings=embed_headings, prefix=passage_prefix) for p in passages]
    # Each heading path is embedded on its own too: questions often name the topic and the kind of
    # answer ("outlook", "treatment") that a heading states and a long passage only implies.
    headings = [passage_prefix + h for h in heading_paths(passages)]
    cache = previous_vectors(previous, emb.fingerprint)
    previous_probes = _probes_of(previous, emb.fingerprint, query_prefix)
    del previous  # its passages and vectors are in the cache now
    # Passages and headings in one call, so an engine that starts workers (Ray) starts them and loads the
    # model once a build.
    both = embed_with_cache(emb, texts + headings, cache, batch_size=batch_size, progress=progress, engine=engine)
    done = both.part(0, len(texts))
    vectors, heading_vectors = done.vectors, both.part(len(texts), len(both.fresh)).vectors
    # BM25 is rebuilt every time: it takes a small fraction of embedding even the passages of one document.
    lexical = LexicalIndex.build(passages, vocabulary, heading_weight=heading_weight)
    spec = ann.choose(len(passages), index_type)
    probes = probe_vectors(emb, query_prefix, previous_probes)
    calibration = calibrate(probes, vectors)
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
        calibration=calibration.to_json(),
    )
    path = write_index(out, manifest, passages, vectors, lexical, heading_vectors, split.documents, probes)
    seconds = time.perf_counter() - start
    return BuildResult(
        path,
        report.documents,
        len(passages),
        seconds,
        report.skipped,
        done.embedded,
        done.reused,
        resplit=split.resplit,
        notes=notes,
    )


def _probes_of(previous: Previous | None, model: str, prefix: str) -> Path | None:
    """The previous generation's probe vectors, if built with this model, probe list and query prefix."""
    if previous is None:
        return None
    m = previous.manifest
    same = m.calibration.get("probes") == probe_digest() and m.model.fingerprint == model and m.query_prefix == prefix
    return previous.probe_array() if same else None


def _reuse(previous: Previous | None) -> Reuse | None:
    """The previous generation's split of each document, if its passages and document list read whole."""
    if previous is None:
        return None
    try:
        _ = previous.passages, previous.documents  # read now: a damaged file means no reuse, not an error
    except Exception:  # whatever json or the file system raise
        return None
    return previous.split_of


def staleness(
    corpus: Path,
    out: Path,
    *,
    model_fingerprint: str | None = None,
    max_tokens: int | None = None,
    embed_headings: bool | None = None,
    query_prefix: str | None = None,
    passage_prefix: str | None = None,
    overlap: int | None = None,
    index_type: str | None = None,
    heading_weight: int | None = None,
    verify: bool = True,
) -> str | None:
    """Why the index at ``out`` needs a rebuild from ``corpus`` (None: it is up to date).

    The same test a build makes before rebuilding: the corpus, the shipped vocabulary and the package
    version always count; a setting left None (a caller that does not know the build flags) is taken as
    the index records it. ``verify``: an index that does not load whole is stale too (this loads it).
    """
    want = BuildKey(
        corpus_fingerprint(corpus),
        str(corpus),
        load_vocabulary().fingerprint,
        ANALYZER,
        model_fingerprint=model_fingerprint,
        max_tokens=max_tokens,
        embed_headings=embed_headings,
        query_prefix=query_prefix,
        passage_prefix=passage_prefix,
        overlap=overlap,
        index_type=index_type,
        heading_weight=heading_weight,
    )
    return stale_reason(out, want, verify=verify)
