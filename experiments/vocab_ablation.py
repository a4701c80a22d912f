"""Which vocabulary entries earn their place: a leave-one-out ablation on the TUNE parts only.

    python experiments/vocab_ablation.py [--out /work/ablation] [--cache eval-out/.cache]

The vocabulary is ``passage_search/data/lay_terms.tsv`` (lay term -> clinical expansions) and
``passage_search/data/spelling.tsv`` (British -> American). Same sets, split and scoring as
``experiments/train_eval.py`` (``load_beir(..., split="tune")``, document level, titles indexed as headings,
the packaged default model), hybrid mode (the product's default) only. Test parts are never scored.

1. Group level: the full vocabulary, no lay terms, no spelling, no vocabulary at all (nDCG@10, Hit@1 per
   set). The full-vocabulary figures come from ``run_eval`` itself (what ``passage-search eval --split
   tune`` prints); every variant is scored by the project's ``evaluate`` on the same ``Searcher`` with
   another vocabulary swapped in.
2. Per entry (one TSV line), leave-one-out: the vocabulary is written again without that line into a temp
   folder and loaded with ``load_vocabulary(folder)``. The entry *fires* on a tune question when the
   analysed question (``QueryForms``: dense text, BM25 terms, corrections, expansions) differs with and
   without it. Only those questions are searched again; the others are unchanged by construction.
3. Classes: ``earns`` (removing it lowers the summed nDCG@10 over the questions it fires on), ``hurts``
   (removing it raises it), ``neutral`` (fires, sum unchanged), ``unused`` (fires on no tune question).

Where the vocabulary reaches the index: BM25 terms and the spelling corrector's word counts are built
with ``Vocabulary.fold`` (spelling.tsv only; lay terms are query-side only). This script keeps that exact:
the group variants without spelling rebuild the BM25 index (in memory, from the index's own passages and
heading weight) and the corrector; a spelling entry whose British word occurs in a corpus rebuilds that
corpus's BM25 index without it, and then also fires on every question whose BM25 terms contain the
British or American stem (their postings changed). A spelling entry whose British word occurs in no
indexed passage leaves the index byte-identical, so its query-side ablation is exact.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_eval import tune_sets  # noqa: E402  the same sets and split rule

from passage_search.analysis import DATA_DIR, Vocabulary, analyze, load_vocabulary, words  # noqa: E402
from passage_search.embed.base import Embedder  # noqa: E402
from passage_search.errors import QueryError  # noqa: E402
from passage_search.eval.beir import Dataset, slug  # noqa: E402
from passage_search.eval.evaluate import EVAL_OUT, evaluate, prepare_index, run_eval  # noqa: E402
from passage_search.index.lexical import LexicalIndex, lexical_text  # noqa: E402
from passage_search.search.config import SearchConfig  # noqa: E402
from passage_search.search.query import QueryAnalyzer, QueryForms  # noqa: E402
from passage_search.search.retrievers import LexicalRetriever  # noqa: E402
from passage_search.search.searcher import Searcher  # noqa: E402
from passage_search.search.spelling import SpellingCorrector  # noqa: E402

MODE = "hybrid"
KEYS = (("ndcg@10", "nDCG@10"), ("hit_rate@1", "Hit@1"))
FILES = ("lay_terms.tsv", "spelling.tsv")
EPS = 1e-9
_EMPTY = Vocabulary({}, {}, "none")


# ---- the vocabulary as lines -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    file: str
    line: int  # index into the file's lines
    left: str  # the lay term, or the British spelling
    right: str  # the expansions, or the American spelling

    @property
    def label(self) -> str:
        return self.left


def read_entries(folder: Path) -> tuple[dict[str, list[str]], list[Entry]]:
    """Every file's lines, and one Entry per data line (the lines ``load_vocabulary`` reads after the header)."""
    lines: dict[str, list[str]] = {}
    entries: list[Entry] = []
    for name in FILES:
        text = (folder / name).read_text("utf-8").splitlines()
        lines[name] = text
        header_seen = False
        for i, line in enumerate(text):
            if not line.strip() or line.startswith("#"):
                continue
            if not header_seen:
                header_seen = True
                continue
            left, _, right = line.partition("\t")
            if left.strip() and right.strip():
                entries.append(Entry(name, i, left.strip().lower(), right.strip().lower()))
    return lines, entries


def write_vocabulary(folder: Path, lines: dict[str, list[str]], drop: dict[str, set[int]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    drop = drop or {}
    for name, text in lines.items():
        kept = [ln for i, ln in enumerate(text) if i not in drop.get(name, set())]
        (folder / name).write_text("\n".join(kept) + "\n", "utf-8")
    return folder


def without_data_lines(lines: dict[str, list[str]], entries: list[Entry], files: set[str]) -> dict[str, set[int]]:
    return {name: {e.line for e in entries if e.file == name} for name in files}


# ---- one index per corpus, vocabularies swapped in ------------------------------------------------------------


@dataclass
class Corpus:
    searcher: Searcher
    stored: LexicalIndex  # the index's own BM25 (built with the shipped vocabulary)
    heading_weight: int
    raw_words: Counter[str]  # unfolded words of the indexed passages (as BM25 and the corrector read them)
    base_corrector: SpellingCorrector
    # (BM25, its corrector): the corrector reads the same folded word counts as the BM25 index
    correctors: list[tuple[LexicalIndex, SpellingCorrector]] = field(default_factory=list)

    def corrector(self, lexical: LexicalIndex) -> SpellingCorrector:
        if lexical is self.stored:
            return self.base_corrector
        for lex, corrector in self.correctors:
            if lex is lexical:
                return corrector
        corrector = SpellingCorrector(lexical.word_counts)
        self.correctors.append((lexical, corrector))
        return corrector

    def forget(self, lexical: LexicalIndex) -> None:
        self.correctors = [(lex, c) for lex, c in self.correctors if lex is not lexical]

    def rebuild(self, vocabulary: Vocabulary) -> LexicalIndex:
        return LexicalIndex.build(self.searcher.passages, vocabulary, heading_weight=self.heading_weight)

    def analyzer(self, vocabulary: Vocabulary, lexical: LexicalIndex | None = None) -> QueryAnalyzer:
        return QueryAnalyzer(vocabulary, self.corrector(lexical or self.stored))

    def use(self, vocabulary: Vocabulary, lexical: LexicalIndex | None = None) -> None:
        """Search with ``vocabulary`` (query side) and ``lexical`` (BM25 and corrector; default: the stored one)."""
        lex = lexical or self.stored
        self.searcher.vocabulary = vocabulary
        self.searcher.analyzer = self.analyzer(vocabulary, lex)
        self.searcher.retrievers["lexical"] = LexicalRetriever(lex)


def open_corpus(dataset: Dataset, cache: Path, embedder: Embedder) -> Corpus:
    info, emb = prepare_index(dataset, cache, embedder=embedder)
    searcher = Searcher(info.path, embedder=emb)
    hw = int(searcher.manifest.lexical.get("heading_weight", 1))
    raw: Counter[str] = Counter()
    for p in searcher.passages:
        raw.update(words(lexical_text(p, hw)))
    return Corpus(searcher, searcher.index.lexical, hw, raw, searcher.analyzer.corrector)


def subset(dataset: Dataset, ids: list[str]) -> Dataset:
    return Dataset(
        dataset.name,
        dataset.corpus,
        {q: dataset.queries[q] for q in ids},
        {q: dataset.qrels[q] for q in ids},
        dataset.corpus_file,
    )


def per_query(searcher: Searcher, dataset: Dataset) -> dict[str, dict[str, float]]:
    result = evaluate(searcher, dataset, [MODE])
    return {q.id: dict(q.metrics) for q in result.modes[MODE].queries}


def forms_of(analyzer: QueryAnalyzer, text: str, cfg: SearchConfig) -> QueryForms | None:
    try:
        return analyzer.analyze(text, cfg)
    except QueryError:
        return None


def means(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.fmean(r[k] for r in rows.values()), 4) for k, _ in KEYS}


# ---- main ----------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/work/ablation"), help="output folder")
    ap.add_argument("--cache", type=Path, default=EVAL_OUT / ".cache", help="index cache (default: eval-out/.cache)")
    ap.add_argument(
        "--vocabulary",
        type=Path,
        default=DATA_DIR,
        help="folder of the two TSV files (default: the shipped ones); another one is ablated against "
        "its own BM25 index, rebuilt in memory",
    )
    args = ap.parse_args()
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="vocab-ablation-"))

    # A snapshot of the vocabulary, so that edits made meanwhile do not mix into one run.
    lines, entries = read_entries(args.vocabulary)
    full_vocab = load_vocabulary(write_vocabulary(args.out / "vocabulary_snapshot", lines))
    shipped = load_vocabulary()
    if full_vocab.fingerprint != shipped.fingerprint:
        print(
            f"warning: the vocabulary read ({full_vocab.fingerprint}) is not the shipped one "
            f"({shipped.fingerprint}) the indexes are built with",
            flush=True,
        )
    cfg = SearchConfig()
    assert cfg.mode == MODE

    sets = tune_sets()
    from passage_search.embed.factory import make_embedder

    embedder = make_embedder(None)
    corpora: dict[Path, Corpus] = {}
    set_corpus: dict[str, Corpus] = {}
    for name, dataset in sets:
        assert dataset.corpus_file is not None
        key = dataset.corpus_file.resolve()
        if key not in corpora:
            corpora[key] = open_corpus(dataset, args.cache, embedder)
        set_corpus[name] = corpora[key]

    if full_vocab.fingerprint != shipped.fingerprint:
        # Another vocabulary (e.g. a pruned one): its own BM25 and corrector are the baseline, not the stored ones.
        for corpus in corpora.values():
            corpus.stored = corpus.rebuild(full_vocab)
            corpus.base_corrector = SpellingCorrector(corpus.stored.word_counts)

    # 1. group level -----------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    baseline: dict[str, dict[str, dict[str, float]]] = {}
    run_eval_means: dict[str, dict[str, float]] = {}
    for name, dataset in sets:  # the figures passage-search eval --split tune prints
        result = run_eval(dataset, modes=[MODE], cache_root=args.cache, embedder=embedder)
        baseline[name] = {q.id: dict(q.metrics) for q in result.modes[MODE].queries}
        run_eval_means[name] = {k: round(result.modes[MODE].metrics[k], 4) for k, _ in KEYS}
    print(f"run_eval (full vocabulary) in {time.perf_counter() - t0:.0f} s", flush=True)

    no_lay = load_vocabulary(
        write_vocabulary(tmp / "no_lay", lines, without_data_lines(lines, entries, {"lay_terms.tsv"}))
    )
    no_spell = load_vocabulary(
        write_vocabulary(tmp / "no_spelling", lines, without_data_lines(lines, entries, {"spelling.tsv"}))
    )
    none = load_vocabulary(write_vocabulary(tmp / "none", lines, without_data_lines(lines, entries, set(FILES))))
    rebuilt: dict[tuple[int, str], LexicalIndex] = {}

    def lexical_for(corpus: Corpus, label: str, vocab: Vocabulary) -> LexicalIndex:
        if (id(corpus), label) not in rebuilt:
            rebuilt[(id(corpus), label)] = corpus.rebuild(vocab)
        return rebuilt[(id(corpus), label)]

    # label -> (vocabulary, rebuild BM25 with it?)
    variants: list[tuple[str, Vocabulary, bool]] = [
        ("full", full_vocab, False),
        ("full (BM25 rebuilt in memory)", full_vocab, True),
        ("no lay terms", no_lay, False),
        ("no spelling", no_spell, True),
        ("no spelling (query side only)", no_spell, False),
        ("no vocabulary", none, True),
        ("no vocabulary (query side only)", none, False),
    ]
    group: dict[str, dict[str, dict[str, float]]] = {}
    group_rows: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for label, vocab, rebuild in variants:
        t0 = time.perf_counter()
        for name, dataset in sets:
            corpus = set_corpus[name]
            corpus.use(vocab, lexical_for(corpus, label.split(" (")[0], vocab) if rebuild else None)
            rows = per_query(corpus.searcher, dataset)
            group_rows.setdefault(label, {})[name] = rows
            group.setdefault(label, {})[name] = means(rows)
        print(f"{label}: scored in {time.perf_counter() - t0:.0f} s", flush=True)
    for c in corpora.values():
        c.use(full_vocab)
    # The check: our full-vocabulary run is the run_eval one, query by query (run_eval searches the shipped
    # vocabulary; with another one given, our own full-vocabulary run is the baseline).
    identical = all(group_rows["full"][n] == baseline[n] for n, _ in sets)
    baseline = group_rows["full"]
    rebuilt_identical = all(group_rows["full (BM25 rebuilt in memory)"][n] == group_rows["full"][n] for n, _ in sets)
    against = (
        "run_eval" if full_vocab.fingerprint == shipped.fingerprint else "run_eval (shipped vocabulary: expected False)"
    )
    print(
        f"full vocabulary via evaluate() == {against} per query: {identical}; "
        f"with BM25 rebuilt in memory: {rebuilt_identical}",
        flush=True,
    )

    # 2. per entry ------------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    base_forms: dict[str, dict[str, QueryForms | None]] = {}
    for name, dataset in sets:
        an = set_corpus[name].analyzer(full_vocab)
        base_forms[name] = {q: forms_of(an, text, cfg) for q, text in dataset.queries.items()}

    records: list[dict[str, Any]] = []
    for n_entry, entry in enumerate(entries, 1):
        vocab = load_vocabulary(write_vocabulary(tmp / f"e{n_entry}", lines, {entry.file: {entry.line}}))
        fired: dict[str, list[str]] = {}
        index_side: dict[str, int] = {}  # corpus occurrences of the British word, per set
        lexicals: dict[str, LexicalIndex | None] = {}
        own: dict[int, LexicalIndex] = {}  # BM25 rebuilt without this entry, per corpus (index-side entries)
        for name, dataset in sets:
            corpus = set_corpus[name]
            lex: LexicalIndex | None = None
            changed_stems: set[str] = set()
            if entry.file == "spelling.tsv" and corpus.raw_words.get(entry.left, 0) > 0:
                index_side[name] = corpus.raw_words[entry.left]
                lex = own.get(id(corpus)) or own.setdefault(id(corpus), corpus.rebuild(vocab))
                changed_stems = set(analyze(entry.left, _EMPTY)) | set(analyze(entry.right, _EMPTY))
            an = corpus.analyzer(vocab, lex)
            hit = []
            for q, text in dataset.queries.items():
                f0, f1 = base_forms[name][q], forms_of(an, text, cfg)
                if f0 != f1 or (f0 is not None and changed_stems & set(f0.terms)):
                    hit.append(q)
            if hit:
                fired[name] = hit
                lexicals[name] = lex
        per_set: dict[str, dict[str, Any]] = {}
        for name, ids in fired.items():
            corpus = set_corpus[name]
            dataset = dict(sets)[name]
            corpus.use(vocab, lexicals[name])
            rows = per_query(corpus.searcher, subset(dataset, ids))
            corpus.use(full_vocab)
            per_set[name] = {
                "n": len(ids),
                "ids": ids,
                "d_ndcg": sum(rows[q]["ndcg@10"] - baseline[name][q]["ndcg@10"] for q in ids),
                "d_hit1": sum(rows[q]["hit_rate@1"] - baseline[name][q]["hit_rate@1"] for q in ids),
                "changed": sum(
                    abs(rows[q]["ndcg@10"] - baseline[name][q]["ndcg@10"]) > EPS
                    or abs(rows[q]["hit_rate@1"] - baseline[name][q]["hit_rate@1"]) > EPS
                    for q in ids
                ),
            }
        for name, corpus in set_corpus.items():
            for lex in own.values():
                corpus.forget(lex)
        fires = sum(v["n"] for v in per_set.values())
        d_ndcg = sum(v["d_ndcg"] for v in per_set.values())
        d_hit = sum(v["d_hit1"] for v in per_set.values())
        if not fires:
            cls = "unused"
        elif d_ndcg < -EPS:
            cls = "earns"
        elif d_ndcg > EPS:
            cls = "hurts"
        else:
            cls = "neutral"
        records.append(
            {
                "entry": entry.label,
                "file": entry.file,
                "maps_to": entry.right,
                "fires_on": fires,
                "delta_ndcg": round(d_ndcg, 4),
                "delta_hit1": round(d_hit, 4),
                "class": cls,
                "changed_questions": sum(v["changed"] for v in per_set.values()),
                "index_side": index_side,
                "per_set": per_set,
            }
        )
        if n_entry % 50 == 0:
            print(f"  {n_entry}/{len(entries)} entries ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"per-entry ablation: {len(entries)} entries in {time.perf_counter() - t0:.0f} s", flush=True)

    # 3b. the vocabularies a keep rule would ship, scored whole (entries interact: a shorter lay term can take
    # over from a dropped longer one). BM25 is always rebuilt, so dropped spelling entries leave the index too.
    # In-sample: the classes were chosen on these same questions, so these figures are optimistic.
    t0 = time.perf_counter()
    klass = {(e.file, e.line): r["class"] for e, r in zip(entries, records, strict=True)}
    rules = {
        "keep all but hurts": {"hurts"},
        "keep earns + neutral (drop hurts, unused)": {"hurts", "unused"},
        "keep earns only": {"hurts", "unused", "neutral"},
    }
    pruned: dict[str, dict[str, dict[str, float]]] = {}
    for label, dropped_classes in rules.items():
        drop: dict[str, set[int]] = {}
        for e in entries:
            if klass[(e.file, e.line)] in dropped_classes:
                drop.setdefault(e.file, set()).add(e.line)
        vocab = load_vocabulary(write_vocabulary(args.out / "keep_rules" / slug(label), lines, drop))
        for name, dataset in sets:
            corpus = set_corpus[name]
            corpus.use(vocab, lexical_for(corpus, label, vocab))
            pruned.setdefault(label, {})[name] = means(per_query(corpus.searcher, dataset))
            corpus.use(full_vocab)
        kept = {f: sum(1 for e in entries if e.file == f and (e.line not in drop.get(f, set()))) for f in FILES}
        pruned[label]["kept"] = kept  # type: ignore[assignment]
    group.update({k: {n: v for n, v in d.items() if n != "kept"} for k, d in pruned.items()})
    print(f"keep rules scored in {time.perf_counter() - t0:.0f} s", flush=True)

    # 4. outputs --------------------------------------------------------------------------------------------
    set_names = [n for n, _ in sets]
    with open(args.out / "entries.tsv", "w", encoding="utf-8") as fh:
        fh.write(
            "entry\tfile\tfires_on\tdelta_ndcg\tdelta_hit1\tclass\tchanged_questions\tmaps_to\tindex_side\tper_set\n"
        )
        for r in records:
            per = ";".join(f"{n}:{v['n']}:{v['d_ndcg']:+.4f}:{v['d_hit1']:+.0f}" for n, v in r["per_set"].items())
            side = ";".join(f"{n}:{c}" for n, c in r["index_side"].items())
            fh.write(
                f"{r['entry']}\t{r['file']}\t{r['fires_on']}\t{r['delta_ndcg']:+.4f}\t{r['delta_hit1']:+.0f}\t"
                f"{r['class']}\t{r['changed_questions']}\t{r['maps_to']}\t{side}\t{per}\n"
            )
    counts = {f: dict(Counter(r["class"] for r in records if r["file"] == f)) for f in FILES}
    by_class = {
        c: [f"{r['entry']} ({r['file']})" for r in records if r["class"] == c]
        for c in ("earns", "hurts", "neutral", "unused")
    }
    summary = {
        "mode": MODE,
        "model": "packaged default",
        "vocabulary_fingerprint": full_vocab.fingerprint,
        "shipped_fingerprint": shipped.fingerprint,
        "questions": {n: len(d.queries) for n, d in sets},
        "run_eval": run_eval_means,
        "full_equals_run_eval_per_query": identical,
        "full_rebuilt_bm25_equals_run_eval_per_query": rebuilt_identical,
        "group": group,
        "counts": counts,
        "classes": by_class,
        "kept_per_rule": {k: d["kept"] for k, d in pruned.items()},
        "entries": records,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")

    print("\nTUNE parts only, hybrid, default model (questions with a relevant passage)")
    print("| variant | " + " | ".join(f"{n} ({len(d.queries)}) nDCG@10 / Hit@1" for n, d in sets) + " |")
    print("|---|" + "---|" * len(sets))
    for label in group:
        cells = [f"{group[label][n]['ndcg@10']:.3f} / {group[label][n]['hit_rate@1']:.3f}" for n in set_names]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\n| file | earns | hurts | neutral | unused |\n|---|---|---|---|---|")
    for f in FILES:
        print(
            f"| {f} | " + " | ".join(str(counts[f].get(c, 0)) for c in ("earns", "hurts", "neutral", "unused")) + " |"
        )
    for cls in ("earns", "hurts", "neutral"):
        print(f"\n{cls} ({len(by_class[cls])}):")
        for r in sorted((r for r in records if r["class"] == cls), key=lambda r: r["delta_ndcg"]):
            print(
                f"  {r['entry']!r:32} {r['file']:14} fires {r['fires_on']:3}  dnDCG {r['delta_ndcg']:+.4f}  "
                f"dHit1 {r['delta_hit1']:+.0f}  changed {r['changed_questions']}"
            )
    print(f"\nwritten: {args.out / 'entries.tsv'}, {args.out / 'summary.json'}; {summary['seconds']:.0f} s in all")


if __name__ == "__main__":
    main()
