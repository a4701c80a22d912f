"""How sure a search is that its first hit answers the question: one of three states, carried by every result.

The states are read on the index's own scale (``index/calibration.py``): a cosine similarity counted in
standard deviations above what questions no page answers reach on this corpus, with the share of the
question's words the first passage has (``coverage``) as a second signal for "nothing". The three cuts were
chosen on the tune parts of our question sets over both corpora (``experiments/confidence_tune.py``,
docs/ranking.md); the test parts were read once, afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

from passage_search.index.calibration import Calibration
from passage_search.passage import Hit

ANSWER = "answer"  # the first hit is offered as the answer
RELATED = "related"  # the hits are on the subject but may not answer the question: shown, labelled so
NONE = "none"  # nothing here answers it (or nothing matched, or the filters left nothing to search)
STATES = (ANSWER, RELATED, NONE)

# "answer": the first hit's z at or above this. The best F0.5 of the answer state on the worse of the two
# corpora's tune parts (the bundled page must not pay for a gain on a large corpus); F0.5 because a "Best
# answer" badge on a wrong passage misleads, and a missing one only leaves the passage first, as "Related".
Z_ANSWER = 6.5
# "nothing": the best passage's z below this ...
Z_RELATED = 4.75
# ... and the first passage has less than this share of the question's words (``coverage``): a lay question
# can be far from every passage in meaning and still name what one is about ("will they have to take my leg
# off?" and the Surgery passage's "amputation"). The two were chosen together on the tune parts: the most
# "nothing" recall with "nothing" right at least 95 % of the time and at most 5 % of the answerable questions
# (a right passage in the first three) called "nothing", on every corpus (experiments/confidence_tune.py):
# telling a patient there is no answer when there is one is the worse mistake, so it gets a bar of its own.
# (The best BM25 score, tried as the second signal before, grows with the question's length: it rescued long
# off-topic questions and not one-word ones; docs/ranking.md.)
MIN_COVERAGE = 0.35

# Short names for each state, the same on every face (page, CLI, HTTP).
LABELS = {
    ANSWER: "Best answer",
    RELATED: "Related — may not fully answer your question",
    NONE: "Nothing here answers that",
}
# What each state means in a sentence ("" when the first hit is offered as the answer).
MESSAGES = {
    ANSWER: "",
    RELATED: "The passages are on the subject but may not answer the question itself.",
    NONE: "No passage here answers the question; any passages shown are only the closest.",
}


def coverage(
    asked: Sequence[Collection[str]], found: Collection[str], frequencies: Mapping[str, int], passages: int
) -> float:
    """The share of a question's words that a passage has, each word weighted by how rare it is in the index.

    Args:
        asked: the question's words as index terms (``QueryForms.asked``); a word counts as found when any
            of its terms is in the passage (a lay word by its clinical words).
        found: the passage's index terms.
        frequencies: each index term's number of passages; a word the index never saw weighs most.
        passages: the number of passages in the index.
    The weight is BM25's idf, log(1 + (N - n + 0.5) / (n + 0.5)). 0.0 when the question has no such word.
    """

    def weight(term: str) -> float:
        n = frequencies.get(term, 0)
        return math.log(1 + (passages - n + 0.5) / (n + 0.5))

    weights = [max(weight(t) for t in terms) if terms else 0.0 for terms in asked]
    total = sum(weights)
    if total <= 0:
        return 0.0
    return sum(w for w, terms in zip(weights, asked, strict=True) if any(t in found for t in terms)) / total


def assess(
    hits: Sequence[Hit], best_similarity: float | None, calibration: Calibration | None, covered: float = 0.0
) -> tuple[str, float | None]:
    """The state of a result, and the first hit's z (None when meaning was not measured).

    Args:
        hits: the result's hits, best first.
        best_similarity: the best cosine similarity of any passage to the question (the dense
            retriever's first score), None if the dense retriever did not run.
        calibration: the index's probe statistics; None for an index built before calibration existed,
            whose scores cannot be read (the rebuild sentence is the manifest's job).
        covered: the share of the question's words the first hit has (``coverage``).
    Hits found by words alone (lexical mode) carry no meaning score: they are offered as found, never
    judged, so the state is "answer" whenever there are hits.
    """
    if not hits:
        return NONE, None
    if best_similarity is None or calibration is None:
        return ANSWER, None
    top = calibration.z(hits[0].similarity if hits[0].similarity is not None else -1.0)
    if calibration.z(best_similarity) < Z_RELATED and covered < MIN_COVERAGE:
        return NONE, top
    return (ANSWER if top >= Z_ANSWER else RELATED), top
