"""A question as each retriever sees it: cleaned, spelling folded and repaired, lay words expanded."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from passage_search.analysis import Vocabulary, analyze, words
from passage_search.errors import QueryError
from passage_search.search.config import SearchConfig
from passage_search.search.spelling import SpellingCorrector

MAX_QUERY_CHARS = 1000
_NO_FOLDING = Vocabulary({}, {}, "none")


@dataclass(frozen=True)
class QueryForms:
    """One question as each retriever sees it, with what was changed on the way."""

    text: str
    dense_text: str
    terms: tuple[str, ...]
    corrections: dict[str, str] = field(default_factory=dict)
    expansions: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()


def clean_query(query: str) -> str:
    """The question as it will be searched: control characters dropped, white space folded, bounded."""
    if not isinstance(query, str):
        raise QueryError("The question must be text.")
    text = "".join(" " if unicodedata.category(ch) in {"Cc", "Cs"} else ch for ch in query)
    text = " ".join(text.split())
    if not text:
        raise QueryError("Type a question to search.")
    return text[:MAX_QUERY_CHARS]


def query_notices(query: str) -> tuple[str, ...]:
    """What a person should know about how their question was searched (empty: searched as typed)."""
    if len(" ".join(query.split())) > MAX_QUERY_CHARS:
        return (f"Only the first {MAX_QUERY_CHARS:,} characters of your question were searched.",)
    return ()


class QueryAnalyzer:
    """Turns a typed question into its ``QueryForms`` with the index's vocabulary and word counts."""

    def __init__(self, vocabulary: Vocabulary, corrector: SpellingCorrector) -> None:
        self.vocabulary = vocabulary
        self.corrector = corrector

    def analyze(self, query: str, cfg: SearchConfig) -> QueryForms:
        """Clean, fold, repair and expand a question for each retriever.

        Raises:
            QueryError: the question is not text, or nothing is left of it once cleaned.
        """
        text = clean_query(query)
        tokens = words(text)
        if cfg.fold_spelling:
            tokens = self.vocabulary.fold(tokens)
        corrections: dict[str, str] = {}
        if cfg.correct_spelling:
            known = self.vocabulary.known_terms
            for token in tokens:
                fixed = token if token in known else self.corrector.correct(token)
                if fixed != token:
                    corrections[token] = fixed
            tokens = [corrections.get(t, t) for t in tokens]
        expansions = tuple(self.vocabulary.expansions(tokens)) if (cfg.expand_lexical or cfg.expand_dense) else ()
        dense_text = _replace_words(text, corrections) if corrections else text
        if cfg.expand_dense and expansions:
            dense_text = f"{dense_text} ({' '.join(expansions)})"
        lexical_words = tokens + list(expansions if cfg.expand_lexical else ())
        terms = tuple(analyze(" ".join(lexical_words), self.vocabulary if cfg.fold_spelling else _NO_FOLDING))
        return QueryForms(text, dense_text, terms, corrections, expansions, query_notices(query))


def _replace_words(text: str, corrections: dict[str, str]) -> str:
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, corrections)) + r")\b", re.IGNORECASE)
    return pattern.sub(lambda m: corrections.get(m.group(0).lower(), m.group(0)), text)
