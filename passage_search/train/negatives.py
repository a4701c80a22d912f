"""Hard negatives: for each question, the best BM25 answer that does not answer it.

Mined with the index's own lexical machinery (the same analyzer and bm25s settings as a built index), over
the training answers as passages. Never the question's own answer, another answer to the same folded focus
and question type, or an answer with the same text: those would teach the model to push away a right answer.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from passage_search.passage import Passage

DEPTH = 30  # BM25 candidates looked at per question before falling back to a random answer


def mine_negatives(
    questions: Sequence[str],
    own: Sequence[int],
    pool: Sequence[Passage],
    groups: Sequence[tuple[str, str]],
    *,
    seed: int = 0,
    depth: int = DEPTH,
    focus: str = "any",
) -> list[int | None]:
    """One negative row of ``pool`` per question (None only when every answer is excluded).

    Args:
        own: the row of each question's own answer.
        groups: (folded focus, question type) of every pool row.
        focus: "any" (the best BM25 answer of another group), "other" (another folded focus only) or
            "same" (the same focus, another question type; None when the focus has no other answer).
    """
    from passage_search.analysis import analyze, load_vocabulary
    from passage_search.index.lexical import LexicalIndex

    vocabulary = load_vocabulary()
    index = LexicalIndex.build(pool, vocabulary)
    rng = random.Random(f"{seed}-negatives")
    out: list[int | None] = []
    for question, row in zip(questions, own, strict=True):
        def allowed(r: int, row: int = row) -> bool:
            if r == row or groups[r] == groups[row] or pool[r].text == pool[row].text:
                return False
            same = groups[r][0] == groups[row][0]
            return focus == "any" or (focus == "same") == same

        found = next((r for r, _score in index.search(analyze(question, vocabulary), depth) if allowed(r)), None)
        if found is None and focus == "same":
            found = next((r for r, g in enumerate(groups) if g[0] == groups[row][0] and allowed(r)), None)
        elif found is None:  # no lexical neighbour: any other answer still beats none
            candidates = [r for r in rng.sample(range(len(pool)), min(len(pool), 50)) if allowed(r)]
            found = candidates[0] if candidates else None
        out.append(found)
    return out
