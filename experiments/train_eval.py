"""The base model against trained model folders, on the TUNE parts of our evaluation sets only.

    python experiments/train_eval.py /work/models/NAME /work/models/NAME-wise0.5 [--json out.json]

Every figure comes from the project's own evaluation (``load_beir(..., split="tune")`` + ``run_eval`` with
``model=PATH``, document level, titles indexed as headings), so it compares with ``passage-search eval
--split tune``. Modes: dense and
hybrid. Sets (questions with a relevant passage, tune part; tests/data/splits/README.md fixes the split):

- the bundled page (corpus tests/data/seed_beir): ``seed`` (splits/seed_questions.tsv) and
  ``sarcoma_blind`` (metadata.split);
- cancer.gov (corpus ../shared/data/cancergov): ``cancergov_lay`` (splits/cancergov_lay.tsv),
  ``cancergov_blind`` (metadata.split) and ``cancergov_dev`` (splits/cancergov_dev.tsv).

Test parts are never scored here: settings (steps, learning rate, interpolation weight) are chosen on
these figures, and the test figures are for the final report.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from passage_search.eval.beir import Dataset, load_beir
from passage_search.eval.evaluate import EVAL_OUT, run_eval

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests" / "data"
SPLITS = TESTS / "splits"
CANCERGOV = REPO.parent / "shared" / "data" / "cancergov"
MODES = ("dense", "hybrid")
SHOWN = (("ndcg@10", "nDCG@10"), ("hit_rate@1", "Hit@1"))


def tune_sets() -> list[tuple[str, Dataset]]:
    """The tune part of every set, split by the project's own rule (``load_beir(split="tune")``)."""
    cg_corpus = CANCERGOV / "corpus.jsonl"
    seed_corpus = TESTS / "seed_beir" / "corpus.jsonl"
    return [
        ("seed", load_beir(TESTS / "seed_beir", split="tune", splits=SPLITS / "seed_questions.tsv")),
        ("sarcoma_blind", load_beir(TESTS / "sarcoma_blind", corpus=seed_corpus, split="tune")),
        ("cancergov_lay", load_beir(TESTS / "cancergov_lay", corpus=cg_corpus, split="tune",
                                    splits=SPLITS / "cancergov_lay.tsv")),
        ("cancergov_blind", load_beir(TESTS / "cancergov_blind", corpus=cg_corpus, split="tune")),
        ("cancergov_dev", load_beir(CANCERGOV, split="tune", splits=SPLITS / "cancergov_dev.tsv")),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="trained model folders (the packaged base model is always scored)")
    ap.add_argument("--cache", type=Path, default=EVAL_OUT / ".cache", help="index cache (default: eval-out/.cache)")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    args = ap.parse_args()

    models: list[tuple[str, str | None]] = [("base", None)] + [(Path(m).name, str(m)) for m in args.models]
    sets = tune_sets()
    figures: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for label, model in models:
        started = time.perf_counter()
        for name, dataset in sets:
            result = run_eval(dataset, modes=MODES, cache_root=args.cache, model=model)
            for mode, scored in result.modes.items():
                row = figures.setdefault(name, {}).setdefault(mode, {})
                row[label] = {key: round(scored.metrics[key], 4) for key, _ in SHOWN}
        print(f"{label}: scored in {time.perf_counter() - started:.0f} s", flush=True)

    labels = [label for label, _ in models]
    print("\nTUNE parts only (questions with a relevant passage)")
    print("| set (n) | mode | metric | " + " | ".join(labels) + " |")
    print("|---|---|---|" + "---|" * len(labels))
    for name, dataset in sets:
        for mode in MODES:
            for key, shown in SHOWN:
                cells = [f"{figures[name][mode][label][key]:.3f}" for label in labels]
                print(f"| {name} ({len(dataset.queries)}) | {mode} | {shown} | " + " | ".join(cells) + " |")
    if args.json:
        counts = {name: len(dataset.queries) for name, dataset in sets}
        args.json.write_text(json.dumps({"counts": counts, "figures": figures}, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
