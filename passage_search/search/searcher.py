"""The searcher: a loaded index, the model that embeds questions the same way, and the retrievers over it.

Three modes: ``dense`` (the embedding model over FAISS), ``lexical`` (BM25) and ``hybrid`` (dense, heading
and lexical retrievers, fused). ``search`` returns one ``SearchResult``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from passage_search.analysis import Vocabulary, analyze, load_vocabulary
from passage_search.embed.base import Embedder
from passage_search.errors import IndexMismatchError
from passage_search.index.calibration import Calibration
from passage_search.index.lexical import lexical_text
from passage_search.index.manifest import Manifest
from passage_search.index.store import LoadedIndex, load_index
from passage_search.index.topk import VectorIndex
from passage_search.ingest.notices import is_notice
from passage_search.passage import Hit, Passage
from passage_search.rerank.base import Reranker
from passage_search.rerank.factory import load_reranker
from passage_search.search.confidence import assess, coverage
from passage_search.search.config import SearchConfig
from passage_search.search.fusion import Ranking, boost_by_intent, demote_notices, fuse
from passage_search.search.highlight import common_terms
from passage_search.search.intent import IntentModel, load_intent
from passage_search.search.model import check_compatible, embedder_for
from passage_search.search.query import QueryAnalyzer, QueryForms, clean_query
from passage_search.search.reorder import rerank_hits
from passage_search.search.request import checked_request
from passage_search.search.result import SearchResult
from passage_search.search.retrievers import DenseRetriever, HeadingRetriever, LexicalRetriever, Query, Retriever
from passage_search.search.spelling import SpellingCorrector


class Searcher:
    """Search one index folder. Safe for concurrent ``search`` calls from several threads.

    ``vectors``, if given, opens another store for the dense passage search over the loaded index (e.g.
    ``backends.milvus_store.opener(...)``; returning None keeps the index's FAISS index). Headings, BM25,
    filtered searches and fusion always use the index folder.
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
        reranker: Reranker | Path | str | None = None,
    ) -> None:
        self.root = Path(index_dir)
        # A reranker, or its folder (loaded now, so a bad folder fails here); None: the packaged folder,
        # loaded at the first search that asks for reranking.
        self._reranker: Reranker | None = load_reranker(reranker) if isinstance(reranker, Path | str) else reranker
        self._reranker_lock = threading.Lock()
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
        calibration = Calibration.from_json(self.manifest.calibration)
        if calibration is None:
            raise IndexMismatchError(
                f"The index at {self.root} was built before confidence calibration; rebuild it with "
                f"`passage-search build --force`."
            )
        self.calibration: Calibration = calibration
        self.config = config or SearchConfig()
        if self.config.rerank:
            _ = self.reranker  # a configured reranker that cannot load fails here, not at the first question
        self.vocabulary: Vocabulary = load_vocabulary()
        self.analyzer = QueryAnalyzer(self.vocabulary, SpellingCorrector(self.index.lexical.word_counts))
        # Terms in most passages are never marked in a passage (search/highlight.py): they tell none apart.
        self.common_terms = common_terms(self.index.lexical)
        self.retrievers: dict[str, Retriever] = {
            "dense": DenseRetriever(self.index, self.vector_store),
            "heading": HeadingRetriever(self.index),
            "lexical": LexicalRetriever(self.index.lexical),
        }
        # The intent classifier applies only to the model it was trained on (its vectors are its input).
        intent = load_intent()
        same_model = intent is not None and intent.model_fingerprint == self.embedder.fingerprint
        self.intent: IntentModel | None = intent if same_model else None
        self.row_kinds = [self.intent.kind_of(p.breadcrumb) for p in self.passages] if self.intent else []
        self.notice_rows = frozenset(row for row, p in enumerate(self.passages) if is_notice(p))
        self._terms: dict[str, frozenset[str]] = {}  # passage id -> its index terms, for ``coverage``

    @property
    def reranker(self) -> Reranker:
        """The reranker given, else the packaged one (ModelError in one sentence if there is none)."""
        with self._reranker_lock:  # two first questions at once (the HTTP face's threads) load it once
            if self._reranker is None:
                self._reranker = load_reranker(None)
            return self._reranker

    @property
    def passages(self) -> list[Passage]:
        return self.index.passages

    @property
    def manifest(self) -> Manifest:
        return self.index.manifest

    @staticmethod
    def check_question(query: str) -> None:
        """Raise ``QueryError`` now if ``query`` cannot be searched (a face can refuse it before loading)."""
        clean_query(query)

    def analyze(self, query: str, config: SearchConfig | None = None) -> QueryForms:
        """Clean, fold, repair and expand a question for each retriever."""
        return self.analyzer.analyze(query, config or self.config)

    def search(
        self, query: str, k: int = 5, *, mode: str | None = None, within: Collection[int] | None = None,
        rerank: bool | None = None, exact: bool = False,
    ) -> SearchResult:
        """The ``k`` passages most relevant to ``query``, best first, with how it was searched.

        Args:
            mode: "dense", "lexical" or "hybrid"; None uses the searcher's configured mode.
            within: if given, only these passages (rows) are searched: a filter by document or topic.
            rerank: reorder the fused top ``config.rerank_depth`` hits with the reranker; None: the config's.
            exact: search the words as typed ("Search instead for …"): no misspelling repair and no lay-term
                expansion (``SearchConfig.as_typed``).
        Raises:
            QueryError: the question is empty once cleaned, ``k`` is not a whole number of at least 1, the
                mode is unknown, or ``within`` holds anything but rows of the index.
            ModelError: reranking was asked for and no reranker can be loaded.
        """
        cfg = self.config if rerank is None else replace(self.config, rerank=rerank)
        cfg = cfg.as_typed() if exact else cfg
        return self.search_batch([query], k, mode=mode, config=cfg, within=within)[0]

    def search_batch(
        self,
        queries: list[str],
        k: int,
        *,
        mode: str | None = None,
        config: SearchConfig | None = None,
        timings: dict[str, float] | None = None,
        within: Collection[int] | None = None,
    ) -> list[SearchResult]:
        """``search`` for many questions at once (the model encodes them in one batch).

        Args:
            timings: if given, milliseconds spent per stage (analyze, encode, dense, heading, lexical,
                fusion, rerank) are added to it, for benchmarks.
        """
        started = time.perf_counter()
        k, within = checked_request(k, within, len(self.passages))
        cfg = config or self.config
        if mode is not None:
            cfg = replace(cfg, mode=mode)
        with _stage(timings, "analyze"):
            forms = [self.analyze(q, cfg) for q in queries]
        hits: list[list[Hit]] = [[] for _ in forms]
        best: list[float | None] = [None for _ in forms]
        if k >= 1:
            fetch = max(k, cfg.rerank_depth) if cfg.rerank else k
            depth = max(fetch, cfg.candidates) if cfg.mode == "hybrid" else fetch
            rankings, vectors = self._rank(forms, depth, cfg, timings=timings, within=within)
            with _stage(timings, "fusion"):
                wants = self._intents(vectors, cfg, len(rankings))
                hits = [self._hits(r, cfg, fetch, w) for r, w in zip(rankings, wants, strict=True)]
            if cfg.rerank:
                reranker = self.reranker
                with _stage(timings, "rerank"):
                    hits = [rerank_hits(f.text, h, reranker, depth=cfg.rerank_depth, blend=cfg.rerank_blend,
                                        rrf_k=cfg.rrf_k)[:k] for f, h in zip(forms, hits, strict=True)]
            best = [r["dense"][0][1] if r.get("dense") else None for r in rankings]
        covered = [self.coverage(f, h[0].passage) if h else 0.0 for f, h in zip(forms, hits, strict=True)]
        states = [assess(h, b, self.calibration, c) for h, b, c in zip(hits, best, covered, strict=True)]
        ms = (time.perf_counter() - started) * 1000 / max(1, len(queries))
        return [
            SearchResult(
                question=f.text,
                hits=tuple(h),
                mode=cfg.mode,
                confidence=state,
                certainty=z,
                corrections=f.corrections,
                expansions=f.expansions,
                understood=f.understood,
                terms=tuple(t for t in f.terms if t not in self.common_terms),
                notices=f.notices,
                filtered=within is not None,
                exact=cfg.as_typed_only,
                ms=ms,
            )
            for f, h, (state, z) in zip(forms, hits, states, strict=True)
        ]

    def coverage(self, forms: QueryForms, passage: Passage) -> float:
        """The share of the question's words that ``passage`` has, weighted by rarity (``confidence.coverage``)."""
        found = self._terms.get(passage.id)
        if found is None:  # once per passage: its words as BM25 indexed them, headings included
            found = self._terms[passage.id] = frozenset(analyze(lexical_text(passage), self.vocabulary))
        lexical = self.index.lexical
        return coverage(forms.asked, found, lexical.document_frequencies, lexical.size)

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
        return self._rank(forms, depth, cfg, timings=timings, within=within)[0]

    def _rank(
        self,
        forms: list[QueryForms],
        depth: int,
        cfg: SearchConfig,
        *,
        timings: dict[str, float] | None = None,
        within: Collection[int] | None = None,
    ) -> tuple[list[dict[str, Ranking]], np.ndarray | None]:
        """``rankings``, and the question vectors when the dense retriever ran (None otherwise)."""
        out: list[dict[str, Ranking]] = [{} for _ in forms]
        vectors = None
        allowed = None if within is None else np.array(sorted({int(r) for r in within}), dtype=np.int64)
        if allowed is not None and len(allowed) == 0:
            return out, vectors
        used = {"dense": ["dense"], "lexical": ["lexical"], "hybrid": ["dense", "heading", "lexical"]}[cfg.mode]
        queries = [Query(f) for f in forms]
        if "dense" in used:
            with _stage(timings, "encode"):
                prefix = self.manifest.query_prefix
                vectors = self.embedder.embed([prefix + f.dense_text for f in forms], batch_size=64)
            queries = [Query(f, v) for f, v in zip(forms, vectors, strict=True)]
        for name in used:
            with _stage(timings, name):
                found = self.retrievers[name].rank(queries, depth, allowed)
            for ranking, ranked in zip(out, found, strict=True):
                ranking[name] = ranked
        return out, vectors

    def _intents(self, vectors: np.ndarray | None, cfg: SearchConfig, n: int) -> list[np.ndarray | None]:
        """Per question, the intent classifier's type probabilities (None: no boost for this search).

        Hybrid mode only, the mode the weight was chosen in."""
        if vectors is None or self.intent is None or cfg.mode != "hybrid" or cfg.intent_weight <= 0:
            return [None] * n
        return list(self.intent.probabilities(vectors))

    def _hits(self, rankings: dict[str, Ranking], cfg: SearchConfig, k: int, wants: np.ndarray | None = None) -> list[
        Hit
    ]:
        fused = fuse(rankings, cfg.mode, cfg.fusion, cfg.weights, rrf_k=cfg.rrf_k)
        if wants is not None:
            fused = boost_by_intent(fused, self.row_kinds, wants.tolist(), weight=cfg.intent_weight,
                                    sure=cfg.intent_sure, rrf_k=cfg.rrf_k)
        if cfg.demote_notices:
            fused = demote_notices(fused, rankings, self.notice_rows)
        ranks = {name: {row: r for r, (row, _s) in enumerate(lst, 1)} for name, lst in rankings.items()}
        raw = {name: dict(lst) for name, lst in rankings.items()}
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
