"""Does an intent boost help the ranking? (TUNE parts only; a feasibility study, nothing here ships)

    python experiments/intent_boost.py [--weights 0 0.25 0.5 1 2]

The classifier of experiments/intent_probe.py gives each question a probability per section type. After
fusion, a hit whose section is of a known type ("X — Treatment") gains weight x p(type) / (rrf_k + 1), as
if one more retriever had ranked it first with that confidence; the hits are then re-sorted. Scored with the
project's own evaluation (hybrid, document level) on the cancer.gov tune parts and on the bundled page's
(where no heading names a type, so nothing may change).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from passage_search.eval.beir import load_beir
from passage_search.eval.evaluate import EVAL_OUT, evaluate, prepare_index
from passage_search.passage import Hit
from passage_search.search.searcher import Searcher

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
CANCERGOV = REPO.parent / "shared" / "data" / "cancergov"


def main() -> None:
    from intent_probe import section_type, train_classifier  # noqa: PLC0415 (same folder)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0, 2.0])
    ap.add_argument("--split", choices=("tune", "test"), default="tune")
    ap.add_argument("--sure", type=float, default=0.0,
                    help="boost only questions whose most likely type has at least this probability")
    args = ap.parse_args()
    part = args.split
    classifier, embedder = train_classifier()
    classes = {name: i for i, name in enumerate(classifier.classes_)}
    corpus = CANCERGOV / "corpus.jsonl"
    seed_corpus = DATA / "seed_beir" / "corpus.jsonl"
    sets = [
        ("seed", load_beir(DATA / "seed_beir", split=part, splits=DATA / "splits" / "seed_questions.tsv")),
        ("sarcoma_blind", load_beir(DATA / "sarcoma_blind", corpus=seed_corpus, split=part)),
        ("cancergov_lay", load_beir(DATA / "cancergov_lay", corpus=corpus, split=part,
                                    splits=DATA / "splits" / "cancergov_lay.tsv")),
        ("cancergov_blind", load_beir(DATA / "cancergov_blind", corpus=corpus, split=part)),
        ("cancergov_dev", load_beir(CANCERGOV, split=part, splits=DATA / "splits" / "cancergov_dev.tsv")),
    ]
    table: dict[str, dict[float, str]] = {}
    for name, dataset in sets:
        info, emb = prepare_index(dataset, EVAL_OUT / ".cache")
        searcher = Searcher(info.path, embedder=emb)
        kinds = [classes.get(section_type(p.breadcrumb), -1) for p in searcher.passages]
        row_of = {p.id: i for i, p in enumerate(searcher.passages)}
        plain = searcher.search_batch
        for weight in args.weights:
            def boosted(queries, k, *, weight=weight, **kw):  # type: ignore[no-untyped-def]
                results = plain(queries, k, **kw)
                probs = classifier.predict_proba(embedder.embed(list(queries), batch_size=64))
                out = []
                for result, p in zip(results, probs, strict=True):
                    if p.max() < args.sure:
                        out.append(result)
                        continue
                    def gain(h: Hit, p: np.ndarray = p) -> float:
                        kind = kinds[row_of[h.passage.id]]
                        return h.score + (weight * p[kind] / (searcher.config.rrf_k + 1) if kind >= 0 else 0.0)
                    hits = sorted(result.hits, key=lambda h: -gain(h))
                    out.append(type(result)(**{**result.__dict__, "hits": tuple(hits)}))
                return out
            searcher.search_batch = boosted  # type: ignore[method-assign]
            metrics = evaluate(searcher, dataset, modes=["hybrid"]).modes["hybrid"].metrics
            table.setdefault(name, {})[weight] = f"{metrics['ndcg@10']:.3f} / {metrics['hit_rate@1']:.3f}"
            print(f"{name:16} weight {weight:4}: nDCG@10 / Hit@1 {table[name][weight]}", flush=True)
    print(json.dumps({"sure": args.sure, "table": table}, indent=1))


if __name__ == "__main__":
    main()
