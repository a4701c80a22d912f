"""Calibrate the page's "no good match" threshold on the best cosine similarity of a question's hits.

    python bench/calibrate_weak_match.py [--cancergov ../shared/data/cancergov] [--medquad ../shared/data/medquad]

Answerable questions: the seed questions on the bundled corpus, our lay set and the cancer.gov dev
questions on the cancer.gov corpus. Unanswerable ones: tests/data/offtopic_questions.txt on both corpora,
and MedQuAD questions about non-cancer conditions (the first question of each document) on the bundled
sarcoma page. Prints, for candidate thresholds, the share of answerable questions that would be told
"no good match" (the cost) and the share of unanswerable ones that would (the gain), and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANCER = re.compile(r"cancer|tumou?r|sarcoma|carcinoma|lymphoma|leuka?emia|neoplas|melanoma|chemo|radiation", re.I)


def best_similarity(searcher, questions: list[str]) -> list[float]:
    out = []
    for q in questions:
        hits = searcher.search(q, k=5)
        out.append(max((h.similarity for h in hits if h.similarity is not None), default=-1.0))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cancergov", type=Path, default=ROOT.parent / "shared" / "data" / "cancergov")
    ap.add_argument("--medquad", type=Path, default=ROOT.parent / "shared" / "data" / "medquad")
    ap.add_argument("--json", type=Path, default=ROOT / "bench-out" / "weak_match.json")
    args = ap.parse_args()

    from passage_search.eval.beir import load_beir
    from passage_search.eval.evaluate import EVAL_OUT, prepare_index
    from passage_search.index.build import build_index
    from passage_search.search.model import serve_one_question_at_a_time
    from passage_search.search.searcher import Searcher

    serve_one_question_at_a_time()
    data = ROOT / "tests" / "data"
    offtopic = [ln.strip() for ln in (data / "offtopic_questions.txt").read_text("utf-8").splitlines()
                if ln.strip() and not ln.startswith("#")]
    seed_file = data / "seed_questions.jsonl"
    seed_q = [json.loads(ln)["question"] for ln in seed_file.read_text("utf-8").splitlines() if ln.strip()]
    lay_file = data / "cancergov_lay" / "queries.jsonl"
    lay_q = [json.loads(ln)["text"] for ln in lay_file.read_text("utf-8").splitlines() if ln]

    seed_index = EVAL_OUT / ".cache" / "bundled"
    build_index(ROOT / "corpus", seed_index)
    seed = Searcher(seed_index)
    seed_best = best_similarity(seed, seed_q)
    for q, v in sorted(zip(seed_q, seed_best, strict=True), key=lambda x: x[1])[:5]:
        print(f"lowest answerable (bundled): {v:.3f}  {q}")
    groups: dict[str, list[float]] = {
        "answerable: seed questions, bundled corpus": seed_best,
        "unanswerable: off-topic, bundled corpus": best_similarity(seed, offtopic),
    }
    if args.medquad.exists():
        medquad_q = []
        with open(args.medquad / "corpus.jsonl", encoding="utf-8") as fh:
            for line in fh:
                text = json.loads(line)["text"]
                first = text.split("?")[0] + "?" if "?" in text[:200] else ""
                if first and not CANCER.search(text):
                    medquad_q.append(first)
        medquad_q = random.Random(5).sample(sorted(set(medquad_q)), 200)
        groups["unanswerable: MedQuAD non-cancer questions, bundled corpus"] = best_similarity(seed, medquad_q)
    if args.cancergov.exists():
        dataset = load_beir(args.cancergov)
        info, emb = prepare_index(dataset, EVAL_OUT / ".cache")
        cg = Searcher(info.path, embedder=emb)
        groups["answerable: cancer.gov dev questions"] = best_similarity(cg, list(dataset.queries.values()))
        groups["answerable: lay questions, cancer.gov corpus"] = best_similarity(cg, lay_q)
        groups["unanswerable: off-topic, cancer.gov corpus"] = best_similarity(cg, offtopic)

    thresholds = [round(0.10 + 0.025 * i, 3) for i in range(13)]
    print("share of each group whose best similarity is under the threshold (told 'no good match')")
    print(f"{'group':62}" + "".join(f"{t:>7}" for t in thresholds))
    table = {}
    for name, values in groups.items():
        shares = [sum(v < t for v in values) / len(values) for t in thresholds]
        table[name] = {"n": len(values), "under": dict(zip(map(str, thresholds), shares, strict=True)),
                       "min": min(values), "median": sorted(values)[len(values) // 2], "max": max(values)}
        print(f"{name[:55] + f' ({len(values)})':62}" + "".join(f"{s:7.2f}" for s in shares))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"thresholds": thresholds, "groups": table}, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
