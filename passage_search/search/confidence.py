"""How sure a search is that its first hit answers the question: one state, carried by every result."""

from __future__ import annotations

from collections.abc import Sequence

from passage_search.passage import Hit

ANSWER = "answer"  # the first hit is offered as the answer
WEAK = "weak"  # hits exist, but even the best is far in meaning from the question: shown as the closest only
NONE = "none"  # nothing matched at all (or the filters left nothing to search)
STATES = (ANSWER, WEAK, NONE)

# "No good match" below this best cosine similarity of a question's hits (experiments/calibrate_weak_match.py,
# docs/ranking.md): no answerable question of ours fell under it (the lowest was 0.157), while 29 of 30
# off-topic questions on the bundled page did.
WEAK_SIMILARITY = 0.15

# What each state means, in the words every face shows (page, CLI, HTTP).
MESSAGES = {
    ANSWER: "",
    WEAK: "No passage answers this question well.",
    NONE: "No passage matches this question.",
}


def is_weak(hits: Sequence[Hit]) -> bool:
    """Whether the best of ``hits`` is too far in meaning from the question to be offered as an answer.

    Only the dense retriever measures meaning: hits found by words alone (lexical mode) are never weak.
    """
    similarities = [h.similarity for h in hits if h.similarity is not None]
    return bool(similarities) and max(similarities) < WEAK_SIMILARITY


def confidence(hits: Sequence[Hit]) -> str:
    """The state of a result with these hits."""
    if not hits:
        return NONE
    return WEAK if is_weak(hits) else ANSWER
