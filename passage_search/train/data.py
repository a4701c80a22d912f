"""Training examples from the consumer-health sets in ``../shared/data/train`` (see the README there).

MedQuAD pairs become (question, answer passage, hard negative passage) triplets and MEDIQA RQE entailed pairs
become (consumer question, FAQ) paraphrase pairs. An answer is formatted exactly as the index embeds a
passage: its heading path, a blank line, then the first piece the splitter cuts from it for the training
window, so nothing is truncated mid-sentence. A fixed slice of MedQuAD foci is held out for the dev MRR.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passage_search.embed.model_folder import batch_piece_counter, load_tokenizer, piece_counter, resolve_model
from passage_search.ingest.section import Section
from passage_search.ingest.splitter import make_passages
from passage_search.passage import Passage, embedding_text
from passage_search.train import TrainError
from passage_search.train.negatives import mine_negatives

MEDQUAD_FILE = "medquad_pairs.jsonl"
RQE_FILE = "rqe_pairs.jsonl"
RQE_DEV_FILE = "rqe_dev.jsonl"
HEADINGS = ("title", "focus-type")  # the heading path of an answer: its title, or (focus, question type)
HELDOUT_PERCENT = 4  # of the folded foci: never trained on, they give the dev MRR
DEV_SEED = 0  # the held-out questions do not depend on a run's --seed, so runs compare
_FOLD_DROP = frozenset({"the", "disease", "diseases", "syndrome", "disorder", "disorders"})

Log = Callable[[str], None]


@dataclass(frozen=True)
class QAPair:
    """One MedQuAD question with its answer."""

    query: str
    doc_id: str
    title: str
    text: str
    source: str
    qtype: str
    focus: str

    @property
    def group(self) -> tuple[str, str]:
        """(folded focus, question type): answers that share it are never each other's negatives."""
        return fold_focus(self.focus), self.qtype.strip().lower()


@dataclass(frozen=True)
class Example:
    """One training example; ``negative`` is empty for a pair."""

    dataset: str  # "medquad" or "rqe"
    anchor: str
    positive: str
    negative: str = ""


@dataclass(frozen=True)
class DevData:
    """Held-out MedQuAD questions ranked among the held-out answers, and the RQE validation pairs."""

    questions: tuple[str, ...]
    relevant: tuple[frozenset[int], ...]  # rows of ``passages`` that answer each question
    passages: tuple[str, ...]
    rqe: tuple[tuple[str, str, bool], ...]  # (question, FAQ, the FAQ's answers answer the question)

    def fingerprint(self) -> str:
        return _digest([[q, sorted(r)] for q, r in zip(self.questions, self.relevant, strict=True)]
                       + [list(self.passages)] + [list(r) for r in self.rqe])


@dataclass(frozen=True)
class TrainingData:
    examples: tuple[Example, ...]
    dev: DevData
    fingerprint: str  # sha256 of the exact examples, in order
    sources: dict[str, str]  # file name -> sha256 of its bytes
    counts: dict[str, int]
    settings: dict[str, Any]


def fold_focus(focus: str) -> str:
    """A focus without case, possessives, punctuation or generic words ("Parkinson's Disease" -> "parkinson")."""
    words = [w for w in re.findall(r"[a-z0-9]+", re.sub(r"['’]s\b", "", focus.lower())) if w not in _FOLD_DROP]
    return " ".join(words) or " ".join(focus.lower().split())


def is_heldout(pair: QAPair) -> bool:
    """Whether the pair's focus is in the held-out slice: decided by the folded focus alone, for every run."""
    digest = hashlib.sha256(f"heldout\x1f{fold_focus(pair.focus)}".encode()).hexdigest()
    return int(digest, 16) % 100 < HELDOUT_PERCENT


def _digest(rows: Sequence[Any]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def _jsonl(path: Path, keys: Sequence[str]) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_text("utf-8").splitlines()
    except FileNotFoundError as exc:
        raise TrainError(f"{path} is missing; pass --data the folder that holds {path.name}.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainError(f"{path} cannot be read as UTF-8 text ({exc}).") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            [row[k] for k in keys]
        except (ValueError, KeyError, TypeError) as exc:
            raise TrainError(f"{path} line {n} lacks {', '.join(keys)} ({exc!r}); fix or remove it.") from exc
        yield row


def read_medquad(path: Path) -> list[QAPair]:
    keys = ("query", "doc_id", "title", "text", "source", "qtype", "focus")
    return [QAPair(*(str(row[k] or "") for k in keys)) for row in _jsonl(path, keys)]


def read_rqe(path: Path) -> list[tuple[str, str, bool]]:
    return [(str(r["question"]), str(r["faq"]), r["label"] is True) for r in _jsonl(path, ("question", "faq", "label"))]


class AnswerFormatter:
    """Answers as the index embeds passages: the first piece the splitter cuts for a ``max_tokens`` window."""

    def __init__(self, model_path: Path, max_tokens: int, headings: str = "title") -> None:
        if headings not in HEADINGS:
            raise TrainError(f"Unknown heading style {headings!r}; choose one of {', '.join(HEADINGS)}.")
        tokenizer = load_tokenizer(model_path)
        if tokenizer is None:
            raise TrainError(f"The model at {model_path} has no tokenizer.json to count word pieces with.")
        self.count, self.count_many = piece_counter(tokenizer), batch_piece_counter(tokenizer)
        self.max_tokens, self.headings = max_tokens, headings

    def heading_path(self, pair: QAPair) -> tuple[str, ...]:
        return (pair.title,) if self.headings == "title" else (pair.focus, pair.qtype)

    def passages(self, pairs: Sequence[QAPair]) -> list[Passage]:
        sections = [Section(p.doc_id, p.title, self.heading_path(p), p.text, p.source) for p in pairs]
        first: dict[str, Passage] = {}
        for passage in make_passages(sections, count_tokens=self.count, max_tokens=self.max_tokens,
                                     count_many=self.count_many):
            first.setdefault(passage.doc_id, passage)
        return [first[p.doc_id] for p in pairs]


def one_per_group(pairs: Sequence[QAPair], rng: random.Random) -> list[int]:
    """One row per (focus, type) group, picked and then shuffled by ``rng``: no batch holds two answers to
    the same question, which would be each other's in-batch negatives."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, pair in enumerate(pairs):
        groups.setdefault(pair.group, []).append(i)
    rows = [rng.choice(groups[key]) for key in sorted(groups)]
    rng.shuffle(rows)
    return rows


def load_training_data(
    folder: Path,
    *,
    pairs: int = 4000,
    rqe: int = 4000,
    max_tokens: int = 192,
    seed: int = 42,
    headings: str = "title",
    negatives: bool = True,
    heldout: int = 500,
    model: str | None = None,
    log: Log | None = None,
) -> TrainingData:
    """The training examples and dev data, the same for the same files, settings and seed.

    Args:
        pairs: MedQuAD pairs to train on (at most one per focus and question type).
        rqe: RQE entailed (question, FAQ) pairs to add; an FAQ identical to its question is skipped.
        max_tokens: the training window; answers are cut to their first splitter piece within it.
        negatives: mine one hard negative per MedQuAD pair (else in-batch negatives only).
        heldout: held-out MedQuAD questions for the dev MRR.
        model: the base model folder (None: the packaged one), whose tokenizer counts word pieces.
    """
    say = log or (lambda _msg: None)
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainError(f"The training data folder {folder} does not exist; pass --data ../shared/data/train.")
    medquad = read_medquad(folder / MEDQUAD_FILE)
    rqe_rows = read_rqe(folder / RQE_FILE) if rqe > 0 else []
    rqe_dev = read_rqe(folder / RQE_DEV_FILE)
    _, model_path = resolve_model(model)
    train_side = [p for p in medquad if not is_heldout(p)]
    held = [p for p in medquad if is_heldout(p)]
    rng = random.Random(seed)
    chosen = one_per_group(train_side, rng)[:pairs]

    say(f"Formatting {len(train_side)} training answers as passages of at most {max_tokens} word pieces")
    pool = AnswerFormatter(model_path, max_tokens, headings).passages(train_side)
    texts = [embedding_text(p) for p in pool]
    groups = [p.group for p in train_side]
    negative_rows: list[int | None] = [None] * len(chosen)
    if negatives and chosen:
        say(f"Mining hard negatives for {len(chosen)} questions with BM25 over those answers")
        negative_rows = list(mine_negatives([train_side[i].query for i in chosen], chosen, pool, groups, seed=seed))
    examples = [
        Example("medquad", train_side[i].query, texts[i], texts[n] if n is not None else "")
        for i, n in zip(chosen, negative_rows, strict=True)
    ]
    rqe_examples, identical = _rqe_examples(rqe_rows, random.Random(f"{seed}-rqe"), rqe)
    examples += rqe_examples
    dev = _dev_data(held, rqe_dev, model_path, headings, heldout)
    found = [n for n in negative_rows if n is not None]
    counts = {
        "medquad_pairs_read": len(medquad), "medquad_heldout_pairs": len(held),
        "medquad_training_side_pairs": len(train_side), "medquad_groups": len(set(groups)),
        "medquad_examples": len(chosen), "hard_negatives": len(found),
        "hard_negatives_same_focus": sum(groups[n][0] == groups[i][0] for i, n in zip(chosen, negative_rows,
                                                                                        strict=True) if n is not None),
        "rqe_entailed_rows": sum(label for *_, label in rqe_rows), "rqe_identical_skipped": identical,
        "rqe_examples": len(rqe_examples), "dev_questions": len(dev.questions), "dev_passages": len(dev.passages),
        "rqe_dev_pairs": len(dev.rqe),
    }
    sources = {f.name: hashlib.sha256(f.read_bytes()).hexdigest()
               for f in (folder / MEDQUAD_FILE, folder / RQE_FILE, folder / RQE_DEV_FILE) if f.is_file()}
    settings = {"pairs": pairs, "rqe": rqe, "max_tokens": max_tokens, "seed": seed, "headings": headings,
                "negatives": negatives, "heldout": heldout, "heldout_percent": HELDOUT_PERCENT}
    fingerprint = _digest([[e.dataset, e.anchor, e.positive, e.negative] for e in examples])
    return TrainingData(tuple(examples), dev, fingerprint, sources, counts, settings)


def load_dev_data(folder: Path, *, model: str | None = None, headings: str = "title", heldout: int = 500) -> DevData:
    """The dev data alone (what ``load_training_data`` puts in ``TrainingData.dev``)."""
    folder = Path(folder)
    _, model_path = resolve_model(model)
    held = [p for p in read_medquad(folder / MEDQUAD_FILE) if is_heldout(p)]
    return _dev_data(held, read_rqe(folder / RQE_DEV_FILE), model_path, headings, heldout)


def _rqe_examples(rows: Sequence[tuple[str, str, bool]], rng: random.Random, limit: int) -> tuple[list[Example], int]:
    seen: set[tuple[str, str]] = set()
    kept: list[Example] = []
    identical = 0
    for question, faq, label in rows:
        if not label:
            continue
        if " ".join(question.lower().split()) == " ".join(faq.lower().split()):
            identical += 1  # nothing to learn from a question paired with itself
            continue
        if (question, faq) not in seen:
            seen.add((question, faq))
            kept.append(Example("rqe", question, faq))
    rng.shuffle(kept)
    return kept[:limit], identical


def _dev_data(held: Sequence[QAPair], rqe_dev: Sequence[tuple[str, str, bool]], model_path: Path, headings: str,
              limit: int) -> DevData:
    """Held-out questions against every held-out answer, cut to the window the index uses for this model."""
    from passage_search.embed.model_folder import read_max_tokens

    window = read_max_tokens(model_path) or 256
    passages = [embedding_text(p) for p in AnswerFormatter(model_path, window, headings).passages(held)]
    by_group: dict[tuple[str, str], set[int]] = {}
    for i, pair in enumerate(held):
        by_group.setdefault(pair.group, set()).add(i)
    rows = sorted(one_per_group(held, random.Random(DEV_SEED))[:limit])
    return DevData(
        tuple(held[i].query for i in rows), tuple(frozenset(by_group[held[i].group]) for i in rows),
        tuple(passages), tuple(rqe_dev),
    )
