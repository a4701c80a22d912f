"""Encoding speed and agreement of the embedding backends (torch, onnx, onnx-int8) on real text.

    python bench/embed_backends.py [--corpus ../shared/data/cancergov/corpus.jsonl] [-n 600] [-q 100]

Questions: warm single-question encode time on one thread, backends interleaved in rounds so a busy
machine slows them alike. Builds: passages/s for a sample of the corpus's real passages (split and
prefixed with their headings as a build does) at 1 and 2 threads, ONNX with and without length sorting.
Agreement: cosine of each backend's vectors to torch's. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "data" / "cancergov" / "corpus.jsonl")
    ap.add_argument("--queries", type=Path, default=None, help="queries.jsonl (default: beside the corpus)")
    ap.add_argument("-n", type=int, default=600, help="passages embedded per build configuration")
    ap.add_argument("-q", type=int, default=100, help="questions timed per backend and round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import numpy as np

    from passage_search.embed.onnx_backend import OnnxEmbedder
    from passage_search.embed.torch_backend import SentenceTransformerEmbedder
    from passage_search.ingest.readers import read_corpus
    from passage_search.ingest.splitter import make_passages
    from passage_search.passage import embedding_text

    queries_file = args.queries or args.corpus.with_name("queries.jsonl")
    questions = [json.loads(line)["text"] for line in queries_file.read_text("utf-8").splitlines() if line][: args.q]
    torch_1 = SentenceTransformerEmbedder(threads=1)
    report: dict = {}

    start = time.perf_counter()
    passages = make_passages(read_corpus(args.corpus).sections, count_tokens=torch_1.count_tokens, max_tokens=256)
    texts = [embedding_text(p) for p in passages]
    random.Random(0).shuffle(texts)
    texts = texts[: args.n]
    report["passages"] = {"corpus": len(passages), "sampled": len(texts), "split_s": time.perf_counter() - start}

    onnx = {b: OnnxEmbedder(quantized=b == "onnx-int8", threads=1) for b in ("onnx", "onnx-int8")}
    for emb in onnx.values():
        start = time.perf_counter()
        emb.session
        report.setdefault("session_s", {})[emb.backend] = round(time.perf_counter() - start, 2)
    query_embedders = {"torch": torch_1, **onnx}
    times: dict[str, list[float]] = {b: [] for b in query_embedders}
    for emb in query_embedders.values():
        for q in questions[:10]:
            emb.embed([q])  # warm
    for _ in range(args.rounds):
        for name, emb in query_embedders.items():
            for q in questions:
                t = time.perf_counter()
                emb.embed([q])
                times[name].append((time.perf_counter() - t) * 1000)
    report["query_ms_1_thread"] = {
        b: {"p50": round(statistics.median(t), 2), "p95": round(float(np.percentile(t, 95)), 2)}
        for b, t in times.items()
    }

    reference = torch_1.embed(texts + questions, batch_size=32)
    builds = {}
    for threads in (1, 2):
        configs = [
            ("torch", SentenceTransformerEmbedder(threads=threads)),
            ("onnx", OnnxEmbedder(threads=threads)),
            ("onnx unsorted", OnnxEmbedder(threads=threads, sort_by_length=False)),
            ("onnx-int8", OnnxEmbedder(quantized=True, threads=threads)),
        ]
        for name, emb in configs:
            if name == "torch" and threads == 2:
                import torch

                torch.set_num_threads(2)  # the torch setting is process-wide
            emb.embed(texts[:8])  # load and warm
            start = time.perf_counter()
            vectors = emb.embed(texts, batch_size=32)
            seconds = time.perf_counter() - start
            builds[f"{name} {threads}t"] = round(len(texts) / seconds, 1)
            if threads == 1 and name != "torch":
                both = np.vstack([vectors, emb.embed(questions)])
                cosine = np.sum(both * reference, axis=1)
                report.setdefault("cosine_to_torch", {})[name] = {
                    "mean": round(float(cosine.mean()), 6),
                    "min": round(float(cosine.min()), 6),
                }
        import torch

        torch.set_num_threads(1)
    report["build_passages_per_s"] = builds
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
