"""The outputs of an evaluation: a printed table, report.json, TREC runs, per-query TSVs and recall.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passage_search.eval.evaluate import DEPTH_FACTOR

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from passage_search.eval.evaluate import EvalResult, ModeResult, QueryResult

LABELS = {
    "ndcg@10": "nDCG@10",
    "mrr@10": "MRR@10",
    "recall@1": "Recall@1",
    "recall@5": "Recall@5",
    "recall@10": "Recall@10",
    "recall@100": "Recall@100",
    "hit_rate@1": "Hit@1",
}
# One line on each row of the table: the evaluate page's tooltips and its "What the numbers mean".
HELP = {
    "nDCG@10": "How well the top 10 is ordered: a relevant document counts more the higher it ranks; 1 is ideal.",
    "MRR@10": "1 / the rank of the first relevant document in the top 10 (0 if none), averaged over the questions.",
    **{
        f"Recall@{k}": f"The share of a question's relevant documents that are in the top {k}, averaged over questions."
        for k in (1, 5, 10, 100)
    },
    "Hit@1": "The share of questions whose first document is relevant.",
    "query ms mean": "Mean time to rank one question, in milliseconds; lower is better.",
    "query ms p50": "Median time to rank one question, in milliseconds; lower is better.",
    "query ms p95": "95 of 100 questions were ranked within this many milliseconds; lower is better.",
}


def table_rows(result: EvalResult) -> list[dict[str, Any]]:
    """One row per metric (and per latency figure), one column per mode."""
    first = next(iter(result.modes.values()))
    rows: list[dict[str, Any]] = [
        {"metric": LABELS.get(m, m), **{mode: round(r.metrics[m], 4) for mode, r in result.modes.items()}}
        for m in first.metrics
    ]
    for stat in ("mean", "p50", "p95"):
        rows.append(
            {
                "metric": f"query ms {stat}",
                **{mode: round(r.timing[stat], 1) for mode, r in result.modes.items()},
            }
        )
    return rows


def lower_is_better(metric: str) -> bool:
    """True for the latency rows of ``table_rows`` (milliseconds), False for the retrieval metrics."""
    return metric.startswith("query ms")


def best_modes(row: dict[str, Any], modes: list[str], digits: int) -> set[str]:
    """The modes holding a row's best value as shown (rounded to ``digits``; ties are all best); none for one mode."""
    if len(modes) < 2:
        return set()
    shown = {m: round(float(row[m]), digits) for m in modes}
    best = (min if lower_is_better(row["metric"]) else max)(shown.values())
    return {m for m, v in shown.items() if v == best}


def format_table(result: EvalResult) -> str:
    """The metrics side by side, modes as columns, with the query count."""
    rows, modes = table_rows(result), list(result.modes)
    width = max(len(r["metric"]) for r in rows)
    cols = [max(8, len(m)) for m in modes]
    lines = ["  ".join([" " * width, *(m.rjust(c) for m, c in zip(modes, cols, strict=True))])]
    for row in rows:
        cells = (f"{row[m]:.4f}" if "ms" not in row["metric"] else f"{row[m]:.1f}" for m in modes)
        lines.append("  ".join([row["metric"].ljust(width), *(v.rjust(c) for v, c in zip(cells, cols, strict=True))]))
    ds = result.dataset
    lines.append(
        f"{len(ds.queries)} queries scored at document level over {len(ds.corpus)} documents"
        + (f"; {ds.ignored_queries} queries without judgements ignored" if ds.ignored_queries else "")
    )
    return "\n".join(lines)


def worst_first(mode: ModeResult) -> list[QueryResult]:
    """Queries with no relevant document found first, then by falling rank of the first relevant one."""
    return sorted(mode.queries, key=lambda q: (-(q.first_relevant or 10**9), q.metrics.get("ndcg@10", 0.0), q.id))


def report_json(result: EvalResult) -> dict[str, Any]:
    ds, man = result.dataset, result.manifest
    return {
        "dataset": {"name": ds.name, "corpus": str(ds.corpus_file or "") or None},
        "counts": {
            "documents": len(ds.corpus),
            "queries": len(ds.queries),
            "queries_ignored": ds.ignored_queries,
            "qrels": sum(len(r) for r in ds.qrels.values()),
            "qrels_ignored": ds.ignored_qrels,
            "relevant_not_indexed": result.unindexed_relevant,
        },
        "model": {
            "name": man.model.name,
            "fingerprint": man.model.fingerprint,
            "dimension": man.model.dimension,
        },
        "index": {
            "path": str(result.index.path) if result.index else None,
            "built": bool(result.index and result.index.built),
            "build_seconds": round(result.index.seconds, 2) if result.index else None,
            "passages": man.passage_count,
            "documents": man.document_count,
            "corpus_fingerprint": man.corpus_fingerprint,
            "embed_headings": man.embed_headings,
            "format_version": man.format_version,
            "created": man.created,
        },
        "settings": {
            "k": result.k,
            "passage_depth": DEPTH_FACTOR * result.k,
            "modes": list(result.modes),
            "metrics": list(next(iter(result.modes.values())).metrics),
            "level": "document (its score is the max over its passages)",
        },
        "metrics": {mode: dict(r.metrics) for mode, r in result.modes.items()},
        "timing_ms": {mode: {s: round(v, 3) for s, v in r.timing.items()} for mode, r in result.modes.items()},
        "eval_seconds": round(result.seconds, 2),
        "per_query": {
            mode: {q.id: {**q.metrics, "first_relevant": q.first_relevant, "ms": round(q.ms, 3)} for q in r.queries}
            for mode, r in result.modes.items()
        },
    }


def _cell(text: str) -> str:
    return " ".join(text.split())  # no tab or newline may break a TSV row


def write_report(result: EvalResult, out_dir: Path, *, figure: Figure | None = None) -> Path:
    """Write report.json, run.<mode>.trec, per_query.<mode>.tsv and recall.png (``figure``, else drawn) into
    ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for mode, r in result.modes.items():
        with open(out_dir / f"run.{mode}.trec", "w", encoding="utf-8") as fh:
            for q in r.queries:
                for rank, hit in enumerate(q.hits, 1):
                    fh.write(f"{q.id} Q0 {hit.passage.doc_id} {rank} {hit.score:.6f} passage-search-{mode}\n")
        with open(out_dir / f"per_query.{mode}.tsv", "w", encoding="utf-8") as fh:
            fh.write("query_id\tquery\tfirst_relevant_rank\trelevant_ids\ttop10_ids\n")
            for q in r.queries:
                first = "" if q.first_relevant is None else str(q.first_relevant)
                cells = [q.id, q.text, first, ",".join(q.relevant), ",".join(q.ranking[:10])]
                fh.write("\t".join(_cell(c) for c in cells) + "\n")
    report = json.dumps(report_json(result), indent=2, ensure_ascii=False)
    (out_dir / "report.json").write_text(report + "\n", encoding="utf-8")
    (figure or recall_figure(result)).savefig(out_dir / "recall.png")
    return out_dir


def recall_limits(curves: list[tuple[float, ...]]) -> tuple[float, float]:
    """The y range of the recall plot: from just below the lowest point to just above the highest, within 0..1
    plus a hair, so lines that all sit above 0.8 are not squeezed into the top of a 0-1 axis."""
    low, high = min(min(c) for c in curves), max(max(c) for c in curves)
    pad = max(0.01, (high - low) * 0.05)
    return max(0.0, low - pad), min(1.0, high) + pad / 2


def recall_description(result: EvalResult) -> str:
    """The recall plot in words, for a screen reader (the image's alt text): what is drawn, and each mode's
    recall at the first cut-off and the last."""
    parts = [
        f"{mode} {r.recall_curve[0]:.2f} at k = 1, {r.recall_curve[-1]:.2f} at k = {len(r.recall_curve)}"
        for mode, r in result.modes.items() if r.recall_curve
    ]
    return f"Recall by the number of documents shown (k), one line per mode: {'; '.join(parts)}."


def recall_figure(result: EvalResult) -> Figure:
    """Recall@k for k = 1..100 (log x), one line per mode, the y-axis scaled to the lines."""
    # A bare Figure on the Agg canvas: no pyplot state, safe in a server thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for mode, r in result.modes.items():
        ax.plot(range(1, len(r.recall_curve) + 1), r.recall_curve, label=mode, linewidth=1.8)
    ax.set_xscale("log")
    depth = max(len(r.recall_curve) for r in result.modes.values())
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100) if t <= depth]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_ylim(*recall_limits([r.recall_curve for r in result.modes.values()]))
    ax.set_xlabel("k (documents)")
    ax.set_ylabel("Recall@k")
    ax.set_title(f"{result.dataset.name}: {len(result.dataset.queries)} questions")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    return fig
