"""Choose the confidence thresholds on the tune parts; report each state's precision and recall.

    python experiments/confidence_tune.py                 # tune parts: choose Z_RELATED and Z_ANSWER
    python experiments/confidence_tune.py --split test    # test parts: report the shipped thresholds once

For each corpus (the bundled page; the cancer.gov corpus when ../shared is there) every question of ours in
the chosen part is searched (hybrid, the product's mode) and recorded: the first hit's cosine and the best
passage's, on the index's calibrated scale (z, see passage_search/index/calibration.py), with whether the
first hit is right. Unanswerable questions: the blind sets' unanswerable ones and the off-topic sets.

On the tune part the thresholds are chosen by two rules (docs/ranking.md):
- Z_RELATED and MIN_COVERAGE, the "nothing here" cuts: "nothing" when the best passage's z is below
  Z_RELATED and the first passage has less than MIN_COVERAGE of the question's words. The pair with the most
  "nothing" recall (mean over the corpora) at which "nothing" is right (the question really has no answer)
  at least 95 % of the time, and at most 5 % of the answerable questions with a right passage in the first
  three are called "nothing", on every corpus (the same bar for both mistakes);
- Z_ANSWER, on the first hit's z: the cut with the best worst-corpus F0.5 of the "answer" state (precision:
  the first hit is right; recall: of the questions whose first hit is right). F0.5 weighs precision twice:
  a "Best answer" badge on a wrong passage misleads, a missing badge only leaves the passage first, labelled
  "Related".
Either part then reports the shipped thresholds (search/confidence.py): per corpus and state, how many
questions, precision and recall.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from passage_search.eval.beir import load_beir
from passage_search.eval.evaluate import prepare_index
from passage_search.index.build import build_index
from passage_search.search.confidence import ANSWER, MIN_COVERAGE, NONE, RELATED, STATES, Z_ANSWER, Z_RELATED
from passage_search.search.model import serve_one_question_at_a_time
from passage_search.search.searcher import Searcher

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "data"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def split_of(tsv: Path) -> dict[str, str]:
    """question text -> split, from a splits TSV."""
    out = {}
    for line in tsv.read_text("utf-8").splitlines()[1:]:
        _id, question, split = line.split("\t")
        out[" ".join(question.split())] = split
    return out


def record(searcher: Searcher, question: str, relevant: set[str] | None, where: str) -> dict:
    """One question's signals: the first hit's cosine, the best cosine among the top 10, and rightness."""
    result = searcher.search(question, k=10)
    hits = result.hits
    sims = [h.similarity for h in hits if h.similarity is not None]

    def ok(h) -> bool:
        return relevant is not None and (h.passage.doc_id in relevant or h.passage.breadcrumb in relevant)

    return {
        "set": where,
        "question": question,
        "answerable": relevant is not None,
        "top": (hits[0].similarity or 0.0) if hits else 0.0,
        "max": max(sims) if sims else 0.0,
        "right1": bool(hits) and ok(hits[0]),
        "right3": any(ok(h) for h in hits[:3]),
        "state": result.confidence,
        "covered": searcher.coverage(searcher.analyze(question), hits[0].passage) if hits else 0.0,
    }


def corpus_records(name: str, searcher: Searcher, answerable: list[tuple[str, set[str], str]],
                   unanswerable: list[tuple[str, str]]) -> dict:
    cal = searcher.calibration
    recs = [record(searcher, q, rel, where) for q, rel, where in answerable]
    recs += [record(searcher, q, None, where) for q, where in unanswerable]
    for r in recs:
        r["z_top"], r["z_max"] = cal.z(r["top"]), cal.z(r["max"])
    unanswerable_n = sum(not r["answerable"] for r in recs)
    print(f"{name}: {sum(r['answerable'] for r in recs)} answerable, {unanswerable_n} "
          f"unanswerable; probes mean {cal.mean:.3f} sd {cal.sd:.3f}")
    return {"corpus": name, "calibration": cal.to_json(), "records": recs}


def state(r: dict, z_related: float, z_answer: float, min_coverage: float) -> str:
    if r["z_max"] < z_related and r["covered"] < min_coverage:
        return NONE
    return ANSWER if r["z_top"] >= z_answer else RELATED


def table(recs: list[dict], z_related: float, z_answer: float, min_coverage: float) -> dict[str, dict[str, float]]:
    """Per state: count, precision and recall.

    answer: right when the first hit is right; recall over questions whose first hit is right.
    related: right when the question is answerable and a right passage is in the top 3 (the passages are
    on the subject); recall over answerable questions with a right passage in the top 3 but not first.
    none: right when the question has no answer here; recall over the unanswerable questions.
    hidden: answerable questions with a right passage in the top 3 called "nothing", and their share.
    """
    got = [(r, state(r, z_related, z_answer, min_coverage)) for r in recs]
    right = {
        ANSWER: lambda r: r["answerable"] and r["right1"],
        RELATED: lambda r: r["answerable"] and r["right3"],
        NONE: lambda r: not r["answerable"],
    }
    wanted = {
        ANSWER: lambda r: r["answerable"] and r["right1"],
        RELATED: lambda r: r["answerable"] and r["right3"] and not r["right1"],
        NONE: lambda r: not r["answerable"],
    }
    out = {}
    for s in STATES:
        mine = [r for r, st in got if st == s]
        should = [(r, st) for r, st in got if wanted[s](r)]
        out[s] = {
            "n": len(mine),
            "precision": sum(right[s](r) for r in mine) / len(mine) if mine else float("nan"),
            "recall": sum(st == s for _r, st in should) / len(should) if should else float("nan"),
        }
    answered = [(r, st) for r, st in got if r["answerable"] and r["right3"]]
    hidden = sum(st == NONE for _r, st in answered)
    out["hidden"] = {"n": hidden, "share": hidden / len(answered) if answered else 0.0}
    return out


def pick(reports: list[dict]) -> tuple[float, float, float]:
    """(Z_RELATED, MIN_COVERAGE, Z_ANSWER) by the two rules."""
    grid = [round(x * 0.25, 2) for x in range(0, 61)]
    coverages = [round(x * 0.05, 2) for x in range(0, 21)] + [9.0]  # 9: no coverage rescue
    best = (-1.0, 0.0, 0.0)
    for n in grid:
        for c in coverages:
            tables = [table(r["records"], n, 99, c) for r in reports]
            if all(t[NONE]["precision"] >= 0.95 and t["hidden"]["share"] <= 0.05 for t in tables):
                recall = round(sum(t[NONE]["recall"] for t in tables) / len(tables), 6)
                best = max(best, (recall, n, c))
    _recall, z_related, min_coverage = best

    def f_half(t: dict[str, float]) -> float:
        p, r = t["precision"], t["recall"]
        return 1.25 * p * r / (0.25 * p + r) if p + r else 0.0

    # The worst corpus's F0.5, not the mean: the bundled page must not pay for a gain on a large corpus.
    z_answer = max((a for a in grid if a >= z_related),
                   key=lambda a: min(f_half(table(r["records"], z_related, a, min_coverage)[ANSWER]) for r in reports))
    return z_related, min_coverage, z_answer


def choose(reports: list[dict]) -> None:
    z_related, min_coverage, z_answer = pick(reports)
    print(f"chosen on the tune parts: Z_RELATED {z_related}, MIN_COVERAGE {min_coverage}, Z_ANSWER {z_answer} "
          f"(shipped: {Z_RELATED}, {MIN_COVERAGE}, {Z_ANSWER})")


def report_states(rep: dict, z_related: float, z_answer: float, min_coverage: float) -> None:
    t = table(rep["records"], z_related, z_answer, min_coverage)
    rep["states"] = t
    print(f"{rep['corpus']}: hidden answers (right passage in the top 3, state 'none'): {t['hidden']['n']} "
          f"({t['hidden']['share']:.1%})")
    for s in STATES:
        print(f"  {s:8} n {t[s]['n']:4}  precision {t[s]['precision']:.3f}  recall {t[s]['recall']:.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder (default: the packaged MiniLM)")
    ap.add_argument("--workdir", type=Path, default=ROOT / "eval-out" / ".cache" / "confidence")
    ap.add_argument("--json", type=Path, default=None, help="default: bench-out/confidence_SPLIT.json")
    ap.add_argument("--split", choices=("tune", "test"), default="tune")
    args = ap.parse_args()
    part = args.split
    args.json = args.json or ROOT / "bench-out" / f"confidence_{part}.json"
    serve_one_question_at_a_time()
    off_old = split_of(DATA / "splits" / "offtopic.tsv")
    offtopic = [(q, "offtopic") for q, s in off_old.items() if s == part]
    offtopic += [(q["text"], "offtopic_blind") for q in rows(DATA / "offtopic_blind" / "queries.jsonl")
                 if q["metadata"]["split"] == part]
    reports = []

    seed_index = args.workdir / "bundled"
    build_index(ROOT / "corpus", seed_index, model=args.model)
    seed = Searcher(seed_index, model=args.model)
    answerable, unanswerable = [], list(offtopic)
    for folder in ("sarcoma_blind", "sarcoma_blind2"):
        blind = [q for q in rows(DATA / folder / "queries.jsonl") if q["metadata"]["split"] == part]
        # The bundled page is one document: a section is named by its heading path.
        answerable += [(q["text"], {" › ".join(h) for h in q["metadata"]["heading_paths"]}, folder)
                       for q in blind if q["metadata"]["answerable"]]
        unanswerable += [(q["text"], folder) for q in blind if not q["metadata"]["answerable"]]
    seed_split = split_of(DATA / "splits" / "seed_questions.tsv")
    answerable += [(q["question"], {" › ".join(q["heading_path"])}, "seed")
                   for q in rows(DATA / "seed_questions.jsonl")
                   if seed_split[" ".join(q["question"].split())] == part]
    reports.append(corpus_records("bundled", seed, answerable, unanswerable))

    if (SHARED / "cancergov").is_dir():
        dev = load_beir(SHARED / "cancergov", split=part, splits=DATA / "splits" / "cancergov_dev.tsv")
        info, emb = prepare_index(dev, args.workdir, model=args.model)
        cg = Searcher(info.path, embedder=emb)
        answerable = [(text, set(dev.qrels[qid]), "cancergov_dev") for qid, text in dev.queries.items()]
        for folder, splits in (("cancergov_lay", DATA / "splits" / "cancergov_lay.tsv"), ("cancergov_blind", None)):
            data = load_beir(DATA / folder, corpus=SHARED / "cancergov" / "corpus.jsonl", split=part, splits=splits)
            answerable += [(text, set(data.qrels[qid]), folder) for qid, text in data.queries.items()]
        blind_cg = [q for q in rows(DATA / "cancergov_blind" / "queries.jsonl")
                    if q["metadata"]["split"] == part and not q["metadata"].get("answerable", True)]
        unanswerable = [(q["text"], "cancergov_blind") for q in blind_cg] + offtopic
        reports.append(corpus_records("cancer.gov", cg, answerable, unanswerable))
    if part == "tune":
        choose(reports)
    for rep in reports:
        report_states(rep, Z_RELATED, Z_ANSWER, MIN_COVERAGE)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(reports, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
