"""The one object a search returns; every face (page, CLI, HTTP, feedback, evaluation) renders only it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from passage_search.passage import Hit
from passage_search.search.confidence import LABELS, MESSAGES
from passage_search.search.query import question_parts


@dataclass(frozen=True)
class SearchResult(Sequence[Hit]):
    """The hits for one question, best first, with how the question was searched and how sure the answer is.

    It is a sequence of its hits (``result[0]``, ``len(result)``, ``for hit in result``).

    Attributes:
        question: the question as searched (control characters dropped, white space folded, bounded).
        mode: the retrieval mode used.
        corrections: misspelt word (lower case, as typed) -> the corpus word searched instead.
        expansions: clinical words added for lay words and abbreviations in the question.
        understood: each lay word or abbreviation of the question with the clinical wordings searched for it
            (("spread", ("metastatic", "metastasis", "stage iv", "stage 4")),).
        terms: the index terms of the question (with expansions) a face may mark in a passage: those in
            most passages of the index (``search.highlight.common_terms``) are left out.
        exact: the words were searched as typed (``search(..., exact=True)``): nothing repaired or added.
        notices: what the person should know about how the question was searched (e.g. it was cut short).
        confidence: "answer", "related" or "none" (see ``search.confidence``).
        certainty: the first hit's similarity on the index's calibrated scale (standard deviations above
            what questions no page answers reach); None when meaning was not measured (lexical mode).
        filtered: the search was limited to some passages (documents or topics).
        ms: milliseconds the search took.
    """

    question: str
    hits: tuple[Hit, ...]
    mode: str
    confidence: str
    certainty: float | None = None
    corrections: dict[str, str] = field(default_factory=dict)
    expansions: tuple[str, ...] = ()
    understood: tuple[tuple[str, tuple[str, ...]], ...] = ()
    terms: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()
    filtered: bool = False
    exact: bool = False
    ms: float = 0.0

    @overload
    def __getitem__(self, i: int) -> Hit: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Hit]: ...

    def __getitem__(self, i: int | slice) -> Hit | Sequence[Hit]:
        return self.hits[i]

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    @property
    def message(self) -> str:
        """The confidence state in words ("" when the first hit is offered as the answer)."""
        return MESSAGES[self.confidence]

    @property
    def label(self) -> str:
        """The confidence state's short name ("Best answer", "Related — …", "Nothing here answers that")."""
        return LABELS[self.confidence]

    @property
    def rewritten(self) -> bool:
        """Whether words were repaired or added: the page then offers to search the words as typed."""
        return bool(self.corrections or self.understood)

    def question_parts(self) -> list[tuple[str, bool]]:
        """The question as searched, in pieces: each repaired word (True) and the text around it (False)."""
        return question_parts(self.question, self.corrections)

    @property
    def searched_as(self) -> str:
        """The question with its repaired words in place ("chemotherapy side effects")."""
        return "".join(part for part, _ in self.question_parts())

    @property
    def also_searched(self) -> str:
        """The clinical wordings added, quoted ("“chemotherapy”, “adverse effects”"); "" if none."""
        added = dict.fromkeys(w for _, wordings in self.understood for w in wordings)
        return ", ".join(f"“{w}”" for w in added)

    @property
    def showing(self) -> str:
        """"Showing results for …" when words were repaired or added ("" when searched as typed): the line
        every face shows above the hits, with the way to search the words as typed next to it."""
        if not self.rewritten:
            return ""
        also = f", also searching for {self.also_searched}" if self.understood else ""
        return f"Showing results for {self.searched_as}{also}"

    @property
    def instead(self) -> str:
        """The offer to search the words as typed, beside ``showing`` ("" when searched as typed): "Search
        instead for “…”" when words were repaired; "Search only for “…”" when clinical words were only added
        (the words would read the same twice)."""
        return self.instead_for(f"“{self.question}”") if self.rewritten else ""

    def instead_for(self, shown: str) -> str:
        """``instead`` with the question written as a face shows it (``shown``: shortened, escaped)."""
        return f"Search {'instead' if self.corrections else 'only'} for {shown}"

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "mode": self.mode,
            "confidence": self.confidence,
            "label": self.label,
            "message": self.message,
            "certainty": None if self.certainty is None else round(self.certainty, 3),
            "corrections": dict(self.corrections),
            "expansions": list(self.expansions),
            "understood": [{"words": words, "searched": list(wordings)} for words, wordings in self.understood],
            "showing": self.showing,
            "instead": self.instead,
            "exact": self.exact,
            "notices": list(self.notices),
            "filtered": self.filtered,
            "ms": round(self.ms, 3),
            "hits": [h.to_json() for h in self.hits],
        }
