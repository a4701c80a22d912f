"""How well does the best hit's score tell "answers", "related" and "nothing here" apart? (tune parts only)

    python experiments/confidence_tune.py [--model PATH] [--probes FILE] [--json OUT]

For each corpus (the bundled page; the cancer.gov corpus when ../shared is there) every TUNE question of
ours is searched (hybrid, the product's mode) and its first hit's cosine similarity recorded, with whether
the first hit is right (answerable questions) or the question has no answer there (unanswerable ones:
the blind sets' unanswerable questions and the off-topic sets). Probe questions (no disease page answers
them; a calibration list, never evaluation) are searched too, so a threshold can also be expressed
relative to each corpus's own probe scores: z = (similarity - probe mean) / probe sd. Prints, per corpus
and for both scales, the threshold that best separates answerable from unanswerable questions and the
precision of the first hit above candidate "answer" thresholds. Test parts are not read.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from passage_search.eval.beir import load_beir
from passage_search.eval.evaluate import prepare_index
from passage_search.index.build import build_index
from passage_search.search.model import serve_one_question_at_a_time
from passage_search.search.searcher import Searcher

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "data"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def tune_split(tsv: Path) -> dict[str, str]:
    """question text -> split, from a splits TSV."""
    out = {}
    for line in tsv.read_text("utf-8").splitlines()[1:]:
        _id, question, split = line.split("\t")
        out[" ".join(question.split())] = split
    return out


def first_hit(searcher: Searcher, question: str) -> tuple[float, str]:
    """The first hit's cosine similarity and what identifies its section (document id and heading path)."""
    result = searcher.search(question, k=5)
    if not result.hits:
        return 0.0, ""
    top = result.hits[0]
    return top.similarity or 0.0, f"{top.passage.doc_id}|{top.passage.breadcrumb}"


def best_cut(pos: list[float], neg: list[float]) -> tuple[float, float]:
    """The threshold with the best balanced accuracy (answerable above, unanswerable below)."""
    best = (0.0, 0.0)
    for t in sorted(set(pos + neg)):
        acc = (sum(v >= t for v in pos) / len(pos) + sum(v < t for v in neg) / len(neg)) / 2
        best = max(best, (acc, t))
    return best[1], best[0]


def corpus_report(name: str, searcher: Searcher, answerable: list[tuple[str, set[str]]], unanswerable: list[str],
                  probes: list[str]) -> dict:
    probe_scores = [first_hit(searcher, q)[0] for q in probes]
    mean, sd = statistics.fmean(probe_scores), statistics.pstdev(probe_scores) or 1.0
    pos, right = [], []
    for question, relevant in answerable:
        score, where = first_hit(searcher, question)
        pos.append(score)
        right.append(where.split("|")[0] in relevant or where.split("|", 1)[-1] in relevant)
    neg = [first_hit(searcher, q)[0] for q in unanswerable]
    out = {"corpus": name, "answerable": len(pos), "unanswerable": len(neg), "probe_mean": mean, "probe_sd": sd}
    for scale, f in (("cosine", lambda v: v), ("z", lambda v: (v - mean) / sd)):
        p, n = [f(v) for v in pos], [f(v) for v in neg]
        cut, acc = best_cut(p, n)
        out[scale] = {"cut": round(cut, 4), "balanced_accuracy": round(acc, 4),
                      "answerable_median": round(statistics.median(p), 4),
                      "unanswerable_median": round(statistics.median(n), 4)}
        print(f"{name:12} {scale:6} cut {cut:7.3f}  balanced accuracy {acc:.3f}  "
              f"median answerable {statistics.median(p):.3f} unanswerable {statistics.median(n):.3f}")
    for t in (0.2, 0.3, 0.4, 0.5, 0.6):
        above = [ok for v, ok in zip(pos, right, strict=True) if v >= t]
        if above:
            print(f"{name:12} first hit right when cosine >= {t:.1f}: {sum(above)}/{len(above)}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder (default: the packaged MiniLM)")
    ap.add_argument("--probes", type=Path, default=ROOT / "experiments" / "data" / "probes.txt")
    ap.add_argument("--workdir", type=Path, default=ROOT / "eval-out" / ".cache" / "confidence")
    ap.add_argument("--json", type=Path, default=ROOT / "bench-out" / "confidence_tune.json")
    args = ap.parse_args()
    serve_one_question_at_a_time()
    probes = [ln.strip() for ln in args.probes.read_text("utf-8").splitlines() if ln.strip()]
    off_old = tune_split(DATA / "splits" / "offtopic.tsv")
    offtopic = [q for q, s in off_old.items() if s == "tune"]
    offtopic += [q["text"] for q in rows(DATA / "offtopic_blind" / "queries.jsonl") if q["metadata"]["split"] == "tune"]
    reports = []

    seed_index = args.workdir / "bundled"
    build_index(ROOT / "corpus", seed_index, model=args.model)
    seed = Searcher(seed_index, model=args.model)
    blind = [q for q in rows(DATA / "sarcoma_blind" / "queries.jsonl") if q["metadata"]["split"] == "tune"]
    # The bundled page is one document: a section is named by its heading path.
    answerable = [(q["text"], {" › ".join(h) for h in q["metadata"]["heading_paths"]})
                  for q in blind if q["metadata"]["answerable"]]
    seed_split = tune_split(DATA / "splits" / "seed_questions.tsv")
    answerable += [(q["question"], {" › ".join(q["heading_path"])}) for q in rows(DATA / "seed_questions.jsonl")
                   if seed_split[" ".join(q["question"].split())] == "tune"]
    unanswerable = [q["text"] for q in blind if not q["metadata"]["answerable"]] + offtopic
    reports.append(corpus_report("bundled", seed, answerable, unanswerable, probes))

    if (SHARED / "cancergov").is_dir():
        dev = load_beir(SHARED / "cancergov", split="tune", splits=DATA / "splits" / "cancergov_dev.tsv")
        info, emb = prepare_index(dev, args.workdir, model=args.model)
        cg = Searcher(info.path, embedder=emb)
        answerable = [(text, set(dev.qrels[qid])) for qid, text in dev.queries.items()]
        for folder, splits in (("cancergov_lay", DATA / "splits" / "cancergov_lay.tsv"), ("cancergov_blind", None)):
            part = load_beir(DATA / folder, corpus=SHARED / "cancergov" / "corpus.jsonl", split="tune", splits=splits)
            answerable += [(text, set(part.qrels[qid])) for qid, text in part.queries.items()]
        blind_cg = [q for q in rows(DATA / "cancergov_blind" / "queries.jsonl")
                    if q["metadata"]["split"] == "tune" and not q["metadata"].get("answerable", True)]
        unanswerable = [q["text"] for q in blind_cg] + offtopic
        reports.append(corpus_report("cancer.gov", cg, answerable, unanswerable, probes))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(reports, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
