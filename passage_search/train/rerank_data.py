"""Labelled (question, passage) pairs for the cross-encoder reranker, from the same files as the encoder.

A MedQuAD question gives its answer as a positive (label 1), formatted exactly as the index embeds a
passage (``data.AnswerFormatter``), and mined BM25 negatives (label 0). The encoder runs showed that
negatives from the same focus (another question type of the same disease) teach a "type word in the question
matches the title" shortcut that costs lay questions, so the negatives come from other foci by default
(``negatives="other"``); ``"mixed"`` adds one same-focus negative, ``"same"`` uses only that. RQE pairs add
lay phrasing: an entailed (consumer question, FAQ) pair is a positive, a non-entailed one a negative.
The held-out MedQuAD foci and the RQE dev file are never trained on.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passage_search.embed.model_folder import resolve_model
from passage_search.passage import embedding_text
from passage_search.train import TrainError
from passage_search.train.data import (
    MEDQUAD_FILE,
    RQE_DEV_FILE,
    RQE_FILE,
    AnswerFormatter,
    DevData,
    Log,
    _dev_data,
    _digest,
    is_heldout,
    one_per_group,
    read_medquad,
    read_rqe,
)
from passage_search.train.negatives import mine_negatives

NEGATIVE_KINDS = ("other", "mixed", "same")


@dataclass(frozen=True)
class LabelledPair:
    dataset: str  # "medquad" or "rqe"
    query: str
    text: str
    label: float  # 1.0 relevant, 0.0 not


@dataclass(frozen=True)
class RerankData:
    pairs: tuple[LabelledPair, ...]
    dev: DevData
    fingerprint: str
    sources: dict[str, str]
    counts: dict[str, int]
    settings: dict[str, Any]


def load_rerank_data(
    folder: Path,
    *,
    questions: int = 3000,
    rqe: int = 8000,
    negatives: str = "other",
    max_tokens: int = 192,
    seed: int = 42,
    heldout: int = 200,
    model: str | None = None,
    log: Log | None = None,
) -> RerankData:
    """The labelled pairs and dev data, the same for the same files, settings and seed.

    Args:
        questions: MedQuAD questions (one per focus and question type), each with its answer and negatives.
        rqe: RQE rows to add (entailed and not; identical question/FAQ rows skipped), 0 for none.
        negatives: "other" (one BM25 negative from another focus, one random other-focus answer),
            "mixed" (one from another focus, one same-focus answer of another type), "same" (the latter only).
    """
    say = log or (lambda _msg: None)
    if negatives not in NEGATIVE_KINDS:
        raise TrainError(f"Unknown negatives {negatives!r}; choose one of {', '.join(NEGATIVE_KINDS)}.")
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainError(f"The training data folder {folder} does not exist; pass --data ../shared/data/train.")
    medquad = read_medquad(folder / MEDQUAD_FILE)
    rqe_rows = read_rqe(folder / RQE_FILE) if rqe > 0 else []
    _, model_path = resolve_model(model)
    train_side = [p for p in medquad if not is_heldout(p)]
    held = [p for p in medquad if is_heldout(p)]
    rng = random.Random(seed)
    chosen = one_per_group(train_side, rng)[:questions]
    say(f"Formatting {len(train_side)} training answers as passages of at most {max_tokens} word pieces")
    pool = AnswerFormatter(model_path, max_tokens).passages(train_side)
    texts = [embedding_text(p) for p in pool]
    groups = [p.group for p in train_side]
    queries = [train_side[i].query for i in chosen]
    kinds = {"other": ("other", "random"), "mixed": ("other", "same"), "same": ("same",)}[negatives]
    negative_rows: list[list[int | None]] = []
    for kind in kinds:
        if kind == "random":
            negative_rows.append([_random_other(i, groups, rng) for i in chosen])
        else:
            say(f"Mining {kind}-focus BM25 negatives for {len(chosen)} questions")
            negative_rows.append(mine_negatives(queries, chosen, pool, groups, seed=seed, focus=kind))
    pairs: list[LabelledPair] = []
    for j, i in enumerate(chosen):
        pairs.append(LabelledPair("medquad", queries[j], texts[i], 1.0))
        pairs += [LabelledPair("medquad", queries[j], texts[n], 0.0) for rows in negative_rows
                  if (n := rows[j]) is not None]
    rqe_pairs = _rqe_pairs(rqe_rows, rqe, random.Random(f"{seed}-rqe"))
    pairs += rqe_pairs
    random.Random(f"{seed}-order").shuffle(pairs)
    dev = _dev_data(held, read_rqe(folder / RQE_DEV_FILE), model_path, "title", heldout)
    counts = {
        "medquad_training_side_pairs": len(train_side), "medquad_heldout_pairs": len(held),
        "medquad_questions": len(chosen),
        "medquad_negatives": sum(n is not None for rows in negative_rows for n in rows),
        "medquad_negatives_same_focus": sum(groups[n][0] == groups[i][0] for rows in negative_rows
                                            for i, n in zip(chosen, rows, strict=True) if n is not None),
        "rqe_positive": sum(p.label > 0 for p in rqe_pairs), "rqe_negative": sum(p.label == 0 for p in rqe_pairs),
        "pairs": len(pairs), "positives": sum(p.label > 0 for p in pairs),
        "dev_questions": len(dev.questions), "dev_passages": len(dev.passages), "rqe_dev_pairs": len(dev.rqe),
    }
    sources = {f.name: hashlib.sha256(f.read_bytes()).hexdigest()
               for f in (folder / MEDQUAD_FILE, folder / RQE_FILE, folder / RQE_DEV_FILE) if f.is_file()}
    settings = {"questions": questions, "rqe": rqe, "negatives": negatives, "max_tokens": max_tokens, "seed": seed,
                "heldout": heldout}
    fingerprint = _digest([[p.dataset, p.query, p.text, p.label] for p in pairs])
    return RerankData(tuple(pairs), dev, fingerprint, sources, counts, settings)


def _random_other(row: int, groups: list[tuple[str, str]], rng: random.Random) -> int | None:
    """A random answer about another focus: an easy negative that keeps the topic signal."""
    for _ in range(50):
        r = rng.randrange(len(groups))
        if groups[r][0] != groups[row][0]:
            return r
    return None


def _rqe_pairs(rows: list[tuple[str, str, bool]], limit: int, rng: random.Random) -> list[LabelledPair]:
    seen: set[tuple[str, str]] = set()
    kept: list[LabelledPair] = []
    for question, faq, label in rows:
        if " ".join(question.lower().split()) == " ".join(faq.lower().split()):
            continue  # a question paired with itself teaches nothing
        if (question, faq) not in seen:
            seen.add((question, faq))
            kept.append(LabelledPair("rqe", question, faq, 1.0 if label else 0.0))
    rng.shuffle(kept)
    return kept[:limit]
