"""``passage-search train``: fine-tune the embedding model on consumer-health question data (wired into cli.py).

Only argparse and the standard library are imported here; the training stack (torch, sentence-transformers,
datasets, accelerate) is imported by the command when it runs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from passage_search.app.cli_args import EXIT_OK, positive

DEFAULT_DATA = Path("../shared/data/train")
INTERRUPTED = 130


def _share(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value!r}")
    return number


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {value!r}")
    return int(value)


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="fine-tune the embedding model on question data",
        description="Fine-tune the embedding model on MedQuAD question -> answer pairs (with BM25 hard negatives) "
        "and MEDIQA RQE paraphrase pairs; write a model folder with its card (README.md, training.json). "
        "Needs the train extra: pip install 'passage-search[train]'.",
    )
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"training data folder (default: {DEFAULT_DATA})")
    p.add_argument("--out", type=Path, required=True, help="model folder to write, outside the repository")
    p.add_argument("--pairs", type=_count, default=4000, help="MedQuAD pairs to train on, 0 for none (default: 4000)")
    p.add_argument("--rqe", type=_count, default=4000, help="RQE paraphrase pairs to add, 0 for none (default: 4000)")
    p.add_argument("--epochs", type=float, default=1.0, help="passes over the examples (default: 1)")
    p.add_argument("--batch", type=positive, default=32, help="examples per step (default: 32)")
    p.add_argument("--max-tokens", type=positive, default=192, help="training window in word pieces (default: 192)")
    p.add_argument("--lr", type=float, default=2e-5, help="peak learning rate (default: 2e-5)")
    p.add_argument("--warmup", type=_share, default=0.1, help="share of steps warming up (default: 0.1)")
    p.add_argument("--seed", type=int, default=42, help="seed for sampling, negatives and training (default: 42)")
    p.add_argument("--save-steps", type=positive, default=50, help="checkpoint every N steps (default: 50)")
    p.add_argument("--max-steps", type=int, default=-1, help="stop after N steps (default: all epochs)")
    p.add_argument("--loss", choices=("mnrl", "cached"), default="mnrl",
                   help="MultipleNegativesRankingLoss, or its cached variant for large batches (default: mnrl)")
    p.add_argument("--mini-batch", type=positive, default=16, help="the cached loss's pass size (default: 16)")
    p.add_argument("--headings", choices=("title", "focus-type"), default="title",
                   help="an answer's heading path: its title, or focus › question type (default: title)")
    p.add_argument("--no-negatives", action="store_true", help="in-batch negatives only, no mined hard negatives")
    p.add_argument("--heldout", type=_count, default=500, help="held-out MedQuAD questions for the dev MRR")
    p.add_argument("--base", default=None, help="model folder to start from (default: all-MiniLM-L6-v2)")
    p.add_argument("--interpolate", type=_share, nargs="+", metavar="ALPHA", default=(),
                   help="also write OUT-wiseALPHA: alpha x tuned + (1 - alpha) x base weights (WiSE-FT); "
                   "on a finished OUT, only this is done")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT/checkpoints")
    r = p.add_argument_group("reranker", "train a cross-encoder reranker instead (BinaryCrossEntropyLoss); "
                             "--pairs is then the MedQuAD questions, --rqe the RQE rows (entailed and not)")
    r.add_argument("--reranker", action="store_true", help="train a cross-encoder reranker, not the embedding model")
    r.add_argument("--negatives", choices=("other", "mixed", "same"), default="other",
                   help="reranker negatives: another focus (BM25 + random), mixed (another + same focus), or the "
                   "same focus only (default: other)")
    r.add_argument("--max-length", type=positive, default=256,
                   help="reranker pair window, question + passage word pieces (default: 256)")
    i = p.add_argument_group("intent", "train the question-type classifier instead (seconds; the shipped one is "
                             "passage_search/data/intent.npz + intent.json, --out passage_search/data)")
    i.add_argument("--intent", action="store_true", help="train the intent classifier on MedQuAD question types")
    i.add_argument("--per-type", type=positive, default=400, help="intent: questions per type (default: 400)")
    p.set_defaults(func=cmd_train)
    return p


def command_line(args: argparse.Namespace) -> str:
    """The command with every setting spelt out, so the card's copy reruns the same training."""
    parts = ["passage-search", "train", "--data", str(args.data), "--out", str(args.out)]
    encoder_only = ("loss", "mini_batch", "headings")
    for flag in ("pairs", "rqe", "epochs", "batch", "max_tokens", "lr", "warmup", "seed", "save_steps", "max_steps",
                 "loss", "mini_batch", "headings", "heldout"):
        if args.reranker and flag in encoder_only:
            continue
        parts += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    if args.base:
        parts += ["--base", args.base]
    if args.no_negatives:
        parts.append("--no-negatives")
    if args.interpolate:
        parts += ["--interpolate", *(f"{a:g}" for a in args.interpolate)]
    if args.reranker:
        parts += ["--reranker", "--negatives", args.negatives, "--max-length", str(args.max_length)]
    return shlex.join(parts)


def _say(message: str) -> None:
    print(f"passage-search: {message}", file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from passage_search.train.folder import is_finished

    if args.intent:
        return _train_intent(args)
    command = command_line(args)
    if args.reranker:
        return _train_reranker(args, command)
    if args.interpolate and is_finished(args.out):
        _say(f"{args.out} already holds a finished model; writing only the interpolated folders.")
    else:
        try:
            _train(args, command)
        except KeyboardInterrupt:
            _say(f"interrupted; the checkpoints are in {args.out / 'checkpoints'}: run the same command with "
                 "--resume to continue.")
            return INTERRUPTED
    from passage_search.train.encoder import write_interpolated

    for alpha in args.interpolate:
        folder, card = write_interpolated(args.out, alpha, command=command, log=_say)
        print(f"Interpolated model (alpha {alpha:g}) -> {folder}")
        _print_dev(card)
    return EXIT_OK


def _train(args: argparse.Namespace, command: str) -> None:
    from passage_search.train.data import load_training_data
    from passage_search.train.encoder import Settings, check_writable, require_extra, train

    require_extra()  # both before a minute of data preparation
    check_writable(args.out)
    data = load_training_data(
        args.data, pairs=args.pairs, rqe=args.rqe, max_tokens=args.max_tokens, seed=args.seed,
        headings=args.headings, negatives=not args.no_negatives, heldout=args.heldout, model=args.base, log=_say,
    )
    counts = data.counts
    _say(f"{counts['medquad_examples']} MedQuAD examples ({counts['hard_negatives']} with a hard negative), "
         f"{counts['rqe_examples']} RQE pairs; fingerprint {data.fingerprint[:16]}")
    settings = Settings(
        epochs=args.epochs, batch=args.batch, lr=args.lr, warmup=args.warmup, seed=args.seed,
        max_tokens=args.max_tokens, save_steps=args.save_steps, loss=args.loss, mini_batch=args.mini_batch,
        max_steps=args.max_steps,
    )
    card = train(data, args.out, data_folder=args.data, base=args.base, settings=settings, resume=args.resume,
                 command=command, log=_say)
    run = card["training"]
    print(f"Trained {run['steps']} steps in {run['wall_seconds'] / 60:.1f} min -> {args.out}")
    _print_dev(card)


def _train_reranker(args: argparse.Namespace, command: str) -> int:
    from passage_search.train.encoder import check_writable, require_extra
    from passage_search.train.rerank_data import load_rerank_data
    from passage_search.train.reranker import RerankSettings, train_reranker

    if args.interpolate:
        _say("--interpolate applies to the embedding model only; leave it out with --reranker.")
        return 2
    require_extra()
    check_writable(args.out)
    data = load_rerank_data(args.data, questions=args.pairs, rqe=args.rqe, negatives=args.negatives,
                            max_tokens=args.max_tokens, seed=args.seed, heldout=args.heldout, model=args.base,
                            log=_say)
    counts = data.counts
    _say(f"{counts['pairs']} labelled pairs ({counts['positives']} positive) from {counts['medquad_questions']} "
         f"MedQuAD questions and {counts['rqe_positive'] + counts['rqe_negative']} RQE rows; "
         f"fingerprint {data.fingerprint[:16]}")
    settings = RerankSettings(epochs=args.epochs, batch=args.batch, lr=args.lr, warmup=args.warmup, seed=args.seed,
                              max_length=args.max_length, save_steps=args.save_steps, max_steps=args.max_steps)
    try:
        card = train_reranker(data, args.out, data_folder=args.data, base=args.base, settings=settings,
                              resume=args.resume, command=command, log=_say)
    except KeyboardInterrupt:
        _say(f"interrupted; the checkpoints are in {args.out / 'checkpoints'}: run the same command with "
             "--resume to continue.")
        return INTERRUPTED
    run = card["training"]
    print(f"Trained the reranker {run['steps']} steps in {run['wall_seconds'] / 60:.1f} min -> {args.out}")
    _print_dev(card)
    return EXIT_OK


def _print_dev(card: dict) -> None:
    for name, figures in card.get("dev", {}).items():
        print(f"  {name:6} " + "  ".join(f"{k} {v}" for k, v in figures.items()))


def _train_intent(args: argparse.Namespace) -> int:
    from passage_search.embed.factory import make_embedder
    from passage_search.train.intent import train_intent

    card = train_intent(args.data, args.out, make_embedder(args.base), per_type=args.per_type, seed=args.seed)
    print(f"Trained the intent classifier on {sum(card['counts'].values())} questions of {len(card['counts'])} "
          f"types in {card['seconds']:.0f} s (training accuracy {card['training_accuracy']:.3f}) -> {args.out}")
    return 0
