"""The searcher: a loaded index plus the model that embeds questions the same way.

Three modes: ``dense`` (the embedding model over FAISS), ``lexical`` (BM25) and ``hybrid`` (both, fused).
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from passage_search.analysis import Vocabulary, analyze, load_vocabulary, words
from passage_search.embed.base import DEFAULT_MODEL, Embedder
from passage_search.embed.factory import make_embedder, resolve_backend
from passage_search.errors import IndexMismatchError, QueryError
from passage_search.index.manifest import BUILD_HINT, Manifest
from passage_search.index.store import LoadedIndex, load_index
from passage_search.index.topk import VectorIndex, exact_top_k, knn
from passage_search.ingest.notices import is_notice
from passage_search.passage import Hit, Passage
from passage_search.search.fusion import Ranking, convex, dbsf, rrf
from passage_search.search.spelling import SpellingCorrector

MAX_QUERY_CHARS = 1000
MODES = ("dense", "lexical", "hybrid")
FUSIONS = ("rrf", "convex", "dbsf")


@dataclass(frozen=True)
class SearchConfig:
    """How questions are searched.

    The fusion defaults were chosen by 5-fold cross-validation on the two development query sets
    (bench/tune_fusion.py; figures in the README, "Ranking").
    """

    mode: str = "hybrid"
    fusion: str = "rrf"
    rrf_k: float = 30.0
    dense_weight: float = 1.0
    heading_weight: float = 0.25
    lexical_weight: float = 0.25
    candidates: int = 100
    fold_spelling: bool = True
    expand_lexical: bool = True
    expand_dense: bool = True
    correct_spelling: bool = True
    demote_notices: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise QueryError(f"Unknown search mode {self.mode!r}; choose one of {', '.join(MODES)}.")
        if self.fusion not in FUSIONS:
            raise QueryError(f"Unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}.")


@dataclass(frozen=True)
class QueryForms:
    """One question as each retriever sees it, with what was changed on the way."""

    text: str
    dense_text: str
    terms: tuple[str, ...]
    corrections: dict[str, str] = field(default_factory=dict)
    expansions: tuple[str, ...] = ()


def serve_one_question_at_a_time() -> None:
    """Thread counts for every face that serves questions: one torch and one FAISS thread, two for ONNX Runtime.

    On two cores, more torch or FAISS threads per question only contend as soon as anything else runs:
    torch went from 26 ms to 59 ms (p95 36 to 157 ms) with its default of two (bench/query_latency.py),
    and FAISS Flat at 100k from 15 ms to 56 ms (passage_search.bench.scale). ONNX Runtime's pool (not
    spinning) shares work out as threads come free, so two threads help even then: encoding a question
    took p50 6.0 ms with two threads and 8.5 ms with one on a quiet machine, 10.0 and 16.9 ms with both
    cores busy with other processes, and 8 clients at once got the same throughput either way.
    """
    from passage_search.embed.base import set_threads
    from passage_search.index.ann import set_threads as set_faiss_threads

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    set_threads(1, onnx=min(2, cpus))
    set_faiss_threads(1)


# "No good match" below this best cosine similarity of a question's hits (bench/calibrate_weak_match.py,
# README "No good match"): no answerable question of ours fell under it (28 seed questions on the bundled
# page, 683 cancer.gov and 95 lay questions on the cancer.gov corpus; the lowest was "will they have to
# take my leg off?" at 0.157), while 29 of 30 off-topic questions and 76% of 200 MedQuAD questions about
# other conditions did on the bundled page (33% of the off-topic ones on the larger cancer.gov corpus).
WEAK_SIMILARITY = 0.15


def is_weak(hits: list[Hit]) -> bool:
    """Whether the best of ``hits`` is too far in meaning from the question to be offered as an answer.

    Only the dense retriever measures meaning: hits found by words alone (lexical mode) are never weak.
    """
    similarities = [h.similarity for h in hits if h.similarity is not None]
    return bool(similarities) and max(similarities) < WEAK_SIMILARITY


def query_notice(query: str) -> str | None:
    """What a person should know about how their question was searched (None: searched as typed)."""
    if isinstance(query, str) and len(" ".join(query.split())) > MAX_QUERY_CHARS:
        return f"Only the first {MAX_QUERY_CHARS:,} characters of your question were searched."
    return None


def clean_query(query: str) -> str:
    """The question as it will be searched: control characters dropped, white space folded, bounded."""
    if not isinstance(query, str):
        raise QueryError("The question must be text.")
    text = "".join(" " if unicodedata.category(ch) in {"Cc", "Cs"} else ch for ch in query)
    text = " ".join(text.split())
    if not text:
        raise QueryError("Type a question to search.")
    return text[:MAX_QUERY_CHARS]


def embedder_for(index: LoadedIndex, model: str | None, backend: str | None = None) -> Embedder:
    """The configured model and backend, or those recorded in the index when none is configured."""
    info = index.manifest.model
    if model is None:
        model = None if info.name == DEFAULT_MODEL else (info.path or info.name)
    return make_embedder(model, backend=resolve_backend(backend, recorded=info.backend))


def check_compatible(index: LoadedIndex, embedder: Embedder, root: Path) -> None:
    info = index.manifest.model
    if embedder.fingerprint != info.fingerprint and _same_model(embedder.fingerprint, info.fingerprint):
        built, configured = info.backend or "torch", getattr(embedder, "backend", "torch")
        raise IndexMismatchError(
            f"The index at {root} was built with the {built} backend, whose vectors differ from the {configured} "
            f"backend's; search it with --backend {built}, or rebuild it with: {BUILD_HINT} --backend {configured}"
        )
    if embedder.fingerprint != info.fingerprint:
        raise IndexMismatchError(
            f"The index at {root} was built with model {info.name} ({info.fingerprint}) but the configured "
            f"model is {embedder.name} ({embedder.fingerprint}); rebuild it with: {BUILD_HINT} --model ..."
        )
    if embedder.dimension != info.dimension:
        raise IndexMismatchError(
            f"The index at {root} holds {info.dimension}-d vectors but the model {embedder.name} makes "
            f"{embedder.dimension}-d ones; rebuild it with: {BUILD_HINT}"
        )


def _same_model(a: str, b: str) -> bool:
    """Whether two fingerprints name one model run by backends with different vectors (fp32 / int8)."""
    return a.removesuffix("-int8") == b.removesuffix("-int8")


class Searcher:
    """Search one index folder. Safe for concurrent ``search`` calls from several threads.

    ``vectors``, if given, opens another store for the dense passage search over the loaded index (e.g.
    ``milvus_store.opener(...)``; returning None keeps the index's FAISS index). Headings, BM25, filtered
    searches and fusion always use the index folder.
    """

    def __init__(
        self,
        index_dir: Path | str,
        *,
        embedder: Embedder | None = None,
        model: str | None = None,
        backend: str | None = None,
        config: SearchConfig | None = None,
        vectors: Callable[[LoadedIndex], VectorIndex | None] | None = None,
    ) -> None:
        self.root = Path(index_dir)
        self.index = load_index(self.root)
        self.embedder: Embedder = embedder or embedder_for(self.index, model, backend)
        check_compatible(self.index, self.embedder, self.root)
        store = vectors(self.index) if vectors is not None else None
        self.vector_store: VectorIndex = self.index.vectors if store is None else store
        if int(self.vector_store.ntotal) != len(self.passages):  # its rows must be the passages' rows
            raise IndexMismatchError(
                f"The vector store holds {self.vector_store.ntotal} vectors but the index at {self.root} has "
                f"{len(self.passages)} passages; push the index to it again."
            )
        self.config = config or SearchConfig()
        self.vocabulary: Vocabulary = load_vocabulary()
        self.corrector = SpellingCorrector(self.index.lexical.word_counts)
        self.notice_rows = frozenset(row for row, p in enumerate(self.passages) if is_notice(p))

    @property
    def passages(self) -> list[Passage]:
        return self.index.passages

    @property
    def manifest(self) -> Manifest:
        return self.index.manifest

    def analyze(self, query: str, config: SearchConfig | None = None) -> QueryForms:
        """Clean, fold, repair and expand a question for each retriever."""
        cfg = config or self.config
        text = clean_query(query)
        tokens = words(text)
        if cfg.fold_spelling:
            tokens = self.vocabulary.fold(tokens)
        corrections: dict[str, str] = {}
        if cfg.correct_spelling:
            known = self.vocabulary.known_terms
            for token in tokens:
                fixed = token if token in known else self.corrector.correct(token)
                if fixed != token:
                    corrections[token] = fixed
            tokens = [corrections.get(t, t) for t in tokens]
        expansions = tuple(self.vocabulary.expansions(tokens)) if (cfg.expand_lexical or cfg.expand_dense) else ()
        dense_text = _replace_words(text, corrections) if corrections else text
        if cfg.expand_dense and expansions:
            dense_text = f"{dense_text} ({' '.join(expansions)})"
        lexical_words = tokens + list(expansions if cfg.expand_lexical else ())
        terms = tuple(analyze(" ".join(lexical_words), self.vocabulary if cfg.fold_spelling else _NO_FOLDING))
        return QueryForms(text, dense_text, terms, corrections, expansions)

    def search(
        self, query: str, k: int = 5, *, mode: str | None = None, within: Collection[int] | None = None
    ) -> list[Hit]:
        """The ``k`` passages most relevant to ``query``, best first.

        Args:
            mode: "dense", "lexical" or "hybrid"; None uses the searcher's configured mode.
            within: if given, only these passages (rows) are searched: a filter by document or topic.
        Raises:
            QueryError: the question is empty once cleaned, or the mode is unknown.
        """
        return self.search_batch([query], k, mode=mode, within=within)[0]

    def search_batch(
        self,
        queries: list[str],
        k: int,
        *,
        mode: str | None = None,
        config: SearchConfig | None = None,
        timings: dict[str, float] | None = None,
        within: Collection[int] | None = None,
    ) -> list[list[Hit]]:
        """``search`` for many questions at once (the model encodes them in one batch).

        Args:
            timings: if given, milliseconds spent per stage (analyze, encode, dense, heading, lexical,
                fusion) are added to it, for benchmarks.
        """
        cfg = config or self.config
        if mode is not None:
            cfg = replace(cfg, mode=mode)
        with _stage(timings, "analyze"):
            forms = [self.analyze(q, cfg) for q in queries]
        if k < 1:
            return [[] for _ in forms]
        depth = max(k, cfg.candidates) if cfg.mode == "hybrid" else k
        rankings = self.rankings(forms, depth, cfg, timings=timings, within=within)
        with _stage(timings, "fusion"):
            return [self._hits(r, cfg, k) for r in rankings]

    def rankings(
        self,
        forms: list[QueryForms],
        depth: int,
        cfg: SearchConfig,
        *,
        timings: dict[str, float] | None = None,
        within: Collection[int] | None = None,
    ) -> list[dict[str, Ranking]]:
        """Each retriever's (row, score) list per question: the inputs of fusion."""
        out: list[dict[str, Ranking]] = [{} for _ in forms]
        allowed = None if within is None else np.array(sorted({int(r) for r in within}), dtype=np.int64)
        if allowed is not None and len(allowed) == 0:
            return out
        if cfg.mode in ("dense", "hybrid"):
            prefix = self.manifest.query_prefix
            with _stage(timings, "encode"):
                vectors = self.embedder.embed([prefix + f.dense_text for f in forms], batch_size=64)
            with _stage(timings, "dense"):
                if allowed is None:
                    found_passages = knn(self.vector_store, vectors, depth)
                else:  # a filtered search is exact over the allowed rows: an ANN index cannot filter well
                    found_passages = _exact_within(self.index.vector_array, allowed, vectors, depth)
            for ranking, found in zip(out, found_passages, strict=True):
                ranking["dense"] = found
            if cfg.mode == "hybrid":
                with _stage(timings, "heading"):
                    if allowed is None:
                        found_headings = knn(self.index.headings, vectors, depth)
                        keep = None
                    else:
                        keep = set(allowed.tolist())
                        ids = [h for h, rows in enumerate(self.index.heading_rows) if not keep.isdisjoint(rows)]
                        wanted = np.array(ids, dtype=np.int64)
                        found_headings = _exact_within(self.index.heading_array, wanted, vectors, depth)
                    heading_found = [self._heading_rows(f, depth, keep) for f in found_headings]
                for ranking, found in zip(out, heading_found, strict=True):
                    ranking["heading"] = found
        if cfg.mode in ("lexical", "hybrid"):
            with _stage(timings, "lexical"):
                for ranking, form in zip(out, forms, strict=True):
                    ranking["lexical"] = self.index.lexical.search(form.terms, depth, within=allowed)
        return out

    def _heading_rows(self, headings: Ranking, depth: int, keep: set[int] | None = None) -> list[tuple[int, float]]:
        """Passages in the order of their heading's similarity, document order within a heading."""
        rows: list[tuple[int, float]] = []
        for heading, score in headings:
            under = self.index.heading_rows[heading]
            if keep is not None:
                under = [row for row in under if row in keep]
            rows.extend((row, score) for row in under[: depth - len(rows)])
            if len(rows) >= depth:
                break
        return rows

    def _hits(self, rankings: dict[str, Ranking], cfg: SearchConfig, k: int) -> list[Hit]:
        ranks = {name: {row: r for r, (row, _s) in enumerate(lst, 1)} for name, lst in rankings.items()}
        raw = {name: dict(lst) for name, lst in rankings.items()}
        fused = fuse(rankings, cfg)
        if cfg.demote_notices and self.notice_rows:
            # The page always shows the disclaimer; as a search result it only pushes answers down, unless
            # several retrievers all put it first: then the question is about the notice itself.
            kept = {row for row in self.notice_rows if len(ranks) > 1 and all(r.get(row) == 1 for r in ranks.values())}
            demoted = self.notice_rows - kept
            fused = [x for x in fused if x[0] not in demoted] + [x for x in fused if x[0] in demoted]
        return [
            Hit(
                self.passages[row],
                score,
                rank,
                {name: r[row] for name, r in ranks.items() if row in r},
                {name: s[row] for name, s in raw.items() if row in s},
            )
            for rank, (row, score) in enumerate(fused[:k], start=1)
        ]


_NO_FOLDING = Vocabulary({}, {}, "none")


@contextmanager
def _stage(timings: dict[str, float] | None, name: str) -> Iterator[None]:
    if timings is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + (time.perf_counter() - start) * 1000


def _exact_within(
    vectors: np.ndarray, rows: np.ndarray, queries: np.ndarray, k: int
) -> list[list[tuple[int, float]]]:
    """Exact top-k over ``vectors[rows]`` only, as (row, score) with the original row numbers."""
    found = exact_top_k(queries, np.asarray(vectors[rows], dtype=np.float32), k)
    return [[(int(rows[i]), s) for i, s in ranking] for ranking in found]


def fuse(rankings: dict[str, Ranking], cfg: SearchConfig) -> list[tuple[int, float]]:
    """One ranked list from the retrievers' lists, as ``cfg`` says; a retriever weighted 0 is left out."""
    if cfg.mode != "hybrid":
        return list(rankings[cfg.mode])
    weights = {"dense": cfg.dense_weight, "heading": cfg.heading_weight, "lexical": cfg.lexical_weight}
    used = {name: ranking for name, ranking in rankings.items() if weights.get(name, 0.0) > 0}
    if cfg.fusion == "rrf":
        return rrf(used, k=cfg.rrf_k, weights=weights)
    if cfg.fusion == "dbsf":
        return dbsf(used, weights=weights)
    return convex(used, weights=weights)


def _replace_words(text: str, corrections: dict[str, str]) -> str:
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, corrections)) + r")\b", re.IGNORECASE)
    return pattern.sub(lambda m: corrections.get(m.group(0).lower(), m.group(0)), text)
