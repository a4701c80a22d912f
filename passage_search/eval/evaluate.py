"""Evaluation on BEIR test sets: ``passage-search eval DATASET_DIR``.

A dataset's corpus is indexed once into a cache keyed by corpus, model and settings; every requested
mode is run and scored at document level (a document ranks by its best passage) by ``metrics.py`` (ranx's
definitions, without its JIT compiler). The files it writes are ``report.py``'s job, the command line
``app/cli_eval.py``'s. Only the standard library is imported at the top, so the CLI stays instant; the index
and model are imported where needed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from passage_search.errors import QueryError
from passage_search.eval.beir import Dataset, EvalError, corpus_jsonl, slug
from passage_search.eval.metrics import percentile, recall_curve
from passage_search.eval.metrics import score as score_rankings
from passage_search.passage import Hit

if TYPE_CHECKING:
    from passage_search.embed.base import Embedder
    from passage_search.index.manifest import Manifest
    from passage_search.rerank.base import Reranker
    from passage_search.search.searcher import Searcher

METRICS = ("ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100", "hit_rate@1")
DEFAULT_K = 100
DEPTH_FACTOR = 3  # passages retrieved per wanted document: a long document fills several ranks
EVAL_OUT = Path("eval-out")
Progress = Callable[[str, int, int], None]  # (mode, questions done, questions in all)
Stage = Callable[[str], None]  # what the run is doing before the questions: loading the model, indexing
RERANKED = "+rerank"  # a mode name with this suffix is that mode with the reranker on ("hybrid+rerank")
RERANK_CHOICES = ("off", "on", "both")


@dataclass(frozen=True)
class IndexInfo:
    path: Path
    built: bool  # False: reused from the cache, or given with --index
    seconds: float  # time spent building it (0.0 when reused)


def prepare_index(
    dataset: Dataset,
    cache_root: Path,
    *,
    embedder: Embedder | None = None,
    model: str | None = None,
    embed_headings: bool = True,
    progress: bool = False,
    rebuild: bool = False,
    on_stage: Stage | None = None,
) -> tuple[IndexInfo, Embedder]:
    """The cached index of the dataset's corpus, built first if it is missing or out of date."""
    from passage_search.embed.factory import make_embedder
    from passage_search.index.build import build_index, corpus_fingerprint, staleness
    from passage_search.index.manifest import FORMAT_VERSION

    stage = on_stage or (lambda _what: None)
    if embedder is None:
        stage("Loading the model")
    emb: Embedder = embedder or make_embedder(model)
    source = dataset.corpus_file
    if source is None:  # an in-memory corpus is indexed from a file like any other
        source = cache_root / f"{slug(dataset.name)}.corpus.jsonl"
        text = corpus_jsonl(dataset)
        if not source.is_file() or source.read_text("utf-8") != text:
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_text(text, "utf-8")
    key = f"{corpus_fingerprint(source)}-{emb.fingerprint}-{'h' if embed_headings else 't'}{FORMAT_VERSION}"
    path = cache_root / key
    if not rebuild and staleness(source, path, model_fingerprint=emb.fingerprint) is None:
        return IndexInfo(path, False, 0.0), emb
    stage(f"Indexing the {len(dataset.corpus)} documents of {dataset.name} (once per test set and model)")
    result = build_index(source, path, embedder=emb, embed_headings=embed_headings, progress=progress)
    return IndexInfo(path, True, result.seconds), emb


# ---- running and scoring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryResult:
    id: str
    text: str
    relevant: Mapping[str, int]
    hits: tuple[Hit, ...]  # the best passage of each document, documents in rank order
    ms: float
    metrics: Mapping[str, float]

    @property
    def ranking(self) -> list[str]:
        return [h.passage.doc_id for h in self.hits]

    @property
    def first_relevant(self) -> int | None:
        """Rank of the first relevant document (None: not in the ranking)."""
        return next((i for i, doc in enumerate(self.ranking, 1) if doc in self.relevant), None)


@dataclass(frozen=True)
class ModeResult:
    mode: str
    metrics: Mapping[str, float]  # means over the queries
    queries: tuple[QueryResult, ...]
    recall_curve: tuple[float, ...]  # mean Recall@1 .. Recall@k
    timing: Mapping[str, float]  # query latency in ms: mean, p50, p95


@dataclass(frozen=True)
class EvalResult:
    dataset: Dataset
    k: int
    modes: Mapping[str, ModeResult]
    manifest: Manifest
    index: IndexInfo | None
    unindexed_relevant: int  # judged documents absent from the index (e.g. empty text)
    seconds: float


def available_modes() -> tuple[str, ...]:
    from passage_search.search.config import MODES

    return MODES


def product_mode() -> str:
    """The mode the search page, the CLI and the HTTP API search with unless told otherwise."""
    from passage_search.search.config import SearchConfig

    return SearchConfig().mode


def with_rerank(modes: Sequence[str], rerank: str = "off") -> tuple[str, ...]:
    """The modes to run for ``rerank``: "off" as given, "on" each with the reranker, "both" each without and with."""
    if rerank not in RERANK_CHOICES:
        raise EvalError(f"Unknown rerank choice {rerank!r}; choose one of {', '.join(RERANK_CHOICES)}.")
    plain = [m.removesuffix(RERANKED) for m in modes]
    if rerank == "off":
        return tuple(modes)
    if rerank == "on":
        return tuple(dict.fromkeys(m + RERANKED for m in plain))
    return tuple(dict.fromkeys(x for m in plain for x in (m, m + RERANKED)))


def check_modes(modes: Sequence[str] | None) -> tuple[str, ...]:
    known = available_modes()
    chosen = tuple(dict.fromkeys(modes or known))
    unknown = [m for m in chosen if m.removesuffix(RERANKED) not in known]
    if unknown:
        raise EvalError(f"Unknown mode {', '.join(unknown)}; choose from {', '.join(known)}.")
    return chosen


def score(
    qrels: Mapping[str, Mapping[str, int]],
    rankings: Mapping[str, Sequence[str]],
    metrics: Sequence[str] = METRICS,
) -> dict[str, dict[str, float]]:
    """Per-query metrics (ranx names, graded relevance honoured) for document rankings, best first."""
    return score_rankings(qrels, rankings, metrics)  # plain Python: ranx's numba took minutes to compile


def _best_per_document(hits: Sequence[Hit]) -> list[Hit]:
    best: dict[str, Hit] = {}
    for hit in hits:  # best first, so a document's first passage holds its max score
        best.setdefault(hit.passage.doc_id, hit)
    return list(best.values())


def rank_documents(searcher: Searcher, text: str, k: int, mode: str) -> tuple[list[Hit], float]:
    """The ``k`` best documents for ``text`` and the milliseconds the first search took.

    ``mode`` may end in "+rerank": that mode with the reranker on, whatever the searcher's config says.
    """
    total = len(searcher.passages)
    depth = min(total, DEPTH_FACTOR * k)
    plain, rerank = mode.removesuffix(RERANKED), mode.endswith(RERANKED)
    started = time.perf_counter()
    try:
        best = _best_per_document(searcher.search(text, depth, mode=plain, rerank=rerank))
    except QueryError:
        return [], 0.0
    ms = (time.perf_counter() - started) * 1000
    while len(best) < k and depth < total:  # long documents crowded the others out: look deeper
        depth = min(total, depth * 4)
        best = _best_per_document(searcher.search(text, depth, mode=plain, rerank=rerank))
    return best[:k], ms


def evaluate(
    searcher: Searcher,
    dataset: Dataset,
    modes: Sequence[str] | None = None,
    k: int = DEFAULT_K,
    *,
    index: IndexInfo | None = None,
    on_progress: Progress | None = None,
) -> EvalResult:
    """Run every mode over the dataset's queries and score the document rankings.

    Args:
        modes: retrieval modes to compare (default: all the searcher offers).
        k: documents ranked per query; metrics with a larger cutoff are left out.
        on_progress: called after each query with (mode, done, total).
    """
    chosen = check_modes(modes)
    if k < 1:
        raise EvalError("k must be at least 1.")
    if not dataset.queries:
        raise EvalError(f"No query of {dataset.name} has a relevance judgement; check the qrels file.")
    started = time.perf_counter()
    metrics = [m for m in METRICS if int(m.split("@")[1]) <= k]
    results: dict[str, ModeResult] = {}
    for mode in chosen:
        rank_documents(searcher, next(iter(dataset.queries.values())), 1, mode)  # warm-up, untimed
        ranked: dict[str, tuple[list[Hit], float]] = {}
        for done, (qid, text) in enumerate(dataset.queries.items(), 1):
            ranked[qid] = rank_documents(searcher, text, k, mode)
            if on_progress:
                on_progress(mode, done, len(dataset.queries))
        rankings = {qid: [h.passage.doc_id for h in hits] for qid, (hits, _ms) in ranked.items()}
        per_query = score(dataset.qrels, rankings, metrics)
        times = [ms for _hits, ms in ranked.values()]
        queries = tuple(
            QueryResult(qid, dataset.queries[qid], dataset.qrels[qid], tuple(hits), ms, per_query[qid])
            for qid, (hits, ms) in ranked.items()
        )
        results[mode] = ModeResult(
            mode,
            {m: statistics.fmean(q.metrics[m] for q in queries) for m in metrics},
            queries,
            recall_curve(dataset.qrels, rankings, min(k, 100)),
            {"mean": statistics.fmean(times), "p50": percentile(times, 50), "p95": percentile(times, 95)},
        )
    indexed = {p.doc_id for p in searcher.passages}
    missing = sum(doc not in indexed for rel in dataset.qrels.values() for doc in rel)
    return EvalResult(dataset, k, results, searcher.manifest, index, missing, time.perf_counter() - started)


def run_eval(
    dataset: Dataset,
    *,
    modes: Sequence[str] | None = None,
    k: int = DEFAULT_K,
    cache_root: Path = EVAL_OUT / ".cache",
    index_dir: Path | None = None,
    embedder: Embedder | None = None,
    model: str | None = None,
    embed_headings: bool = True,
    progress: bool = False,
    on_progress: Progress | None = None,
    on_stage: Stage | None = None,
    rerank: str = "off",
    reranker: Reranker | Path | str | None = None,
    rerank_depth: int | None = None,
) -> EvalResult:
    """Index the dataset's corpus (or open ``index_dir``), then ``evaluate``: what the CLI and page run.

    ``rerank``: "off", "on" or "both" (``with_rerank``), with the ``reranker`` folder (default: the packaged one).
    ``on_stage`` is told what happens before the first question (loading the model, indexing the corpus).
    """
    from passage_search.errors import IndexMismatchError
    from passage_search.rerank.factory import load_reranker
    from passage_search.search.config import SearchConfig
    from passage_search.search.searcher import Searcher

    modes = with_rerank(check_modes(modes), rerank)  # refuse a bad mode before spending seconds on the model
    loaded = None if rerank == "off" else reranker if hasattr(reranker, "score") else load_reranker(reranker)
    config = SearchConfig() if rerank_depth is None else SearchConfig(rerank_depth=rerank_depth)

    def open_searcher(path: Path, emb: Embedder | None) -> Searcher:
        if on_stage:
            on_stage("Opening the index")
        return Searcher(path, embedder=emb, model=model, config=config, reranker=loaded)

    if index_dir is not None:
        info = IndexInfo(Path(index_dir), False, 0.0)
        searcher = open_searcher(Path(index_dir), embedder)
    else:

        def prepare(rebuild: bool) -> tuple[IndexInfo, Embedder]:
            return prepare_index(
                dataset,
                cache_root,
                embedder=embedder,
                model=model,
                embed_headings=embed_headings,
                progress=progress,
                rebuild=rebuild,
                on_stage=on_stage,
            )

        info, emb = prepare(rebuild=False)
        try:
            searcher = open_searcher(info.path, emb)
        except IndexMismatchError:
            if info.built:
                raise
            # A cached index written by an older passage-search with the same format version: rebuild it.
            info, emb = prepare(rebuild=True)
            searcher = open_searcher(info.path, emb)
    return evaluate(searcher, dataset, modes, k, index=info, on_progress=on_progress)
