"""A question as each retriever sees it: cleaned, spelling folded and repaired, lay words expanded."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from passage_search.analysis import DATA_DIR, FUNCTION_WORDS, WORD, Vocabulary, _read_tsv, analyze, words
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
    # Each lay word or abbreviation understood, with the clinical wordings searched for it ("chemo",
    # ("chemotherapy",)): what a face says was added.
    understood: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The question's meaning-bearing words as index terms, each with the clinical terms searched for it when
    # it is part of a lay term ({"leg", "amput"} for "take my leg off"): what ``confidence.coverage`` looks
    # for in a passage.
    asked: tuple[frozenset[str], ...] = ()


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
        self.wordings = lay_wordings(vocabulary)

    def analyze(self, query: str, cfg: SearchConfig) -> QueryForms:
        """Clean, fold, repair and expand a question for each retriever.

        Raises:
            QueryError: the question is not text, or nothing is left of it once cleaned.
        """
        text = clean_query(query)
        typed = words(text)
        tokens = self.vocabulary.fold(typed) if cfg.fold_spelling else list(typed)
        corrections: dict[str, str] = {}  # keyed by the word as typed (lower case), so faces can show it
        if cfg.correct_spelling:
            known = self.vocabulary.known_terms
            for i, (word, token) in enumerate(zip(typed, tokens, strict=True)):
                fixed = token if token in known else self.corrector.correct(token)
                if fixed != token:
                    corrections[word] = fixed
                    tokens[i] = fixed
        # The lay terms are looked for once; the added words, what the faces name and ``asked`` all follow.
        keys = self.vocabulary.lay_keys(tokens) if cfg.expand_lexical or cfg.expand_dense else []
        expansions = tuple(self.vocabulary.clinical_words(keys))
        understood = lay_phrases(self.vocabulary, keys, self.wordings)
        dense_text = _replace_words(text, corrections) if corrections else text
        if cfg.expand_dense and expansions:
            dense_text = f"{dense_text} ({' '.join(expansions)})"
        lexical_words = tokens + list(expansions if cfg.expand_lexical else ())
        terms = tuple(analyze(" ".join(lexical_words), self.vocabulary if cfg.fold_spelling else _NO_FOLDING))
        asked = asked_terms(tokens, keys, self.vocabulary)
        return QueryForms(text, dense_text, terms, corrections, expansions, query_notices(query), understood, asked)


def asked_terms(
    tokens: list[str], keys: list[tuple[str, ...]], vocabulary: Vocabulary
) -> tuple[frozenset[str], ...]:
    """``QueryForms.asked`` for a question's (folded, repaired) words: each word that is not a function word,
    as an index term, with the index terms of the clinical words of the lay term it is part of, if any.
    ``keys``: the lay terms found in ``tokens`` (``Vocabulary.lay_keys``; none when nothing is expanded)."""
    standing_for: dict[str, set[str]] = {}
    for key in keys:
        clinical = analyze(" ".join(vocabulary.lay_terms[key]), _NO_FOLDING)
        for term in _content_terms(list(key)):
            standing_for.setdefault(term, set()).update(clinical)
    return tuple(frozenset({term, *standing_for.get(term, ())}) for term in dict.fromkeys(_content_terms(tokens)))


def _content_terms(tokens: list[str]) -> list[str]:
    return analyze(" ".join(t for t in tokens if t not in FUNCTION_WORDS), _NO_FOLDING)


def lay_phrases(
    vocabulary: Vocabulary, keys: list[tuple[str, ...]], wordings: dict[tuple[str, ...], tuple[str, ...]]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(lay words, the clinical wordings searched for them) for each lay term of ``keys`` (found by
    ``Vocabulary.lay_keys``): ("spread", ("metastatic", "stage iv", ...)).
    ``wordings``: ``lay_wordings(vocabulary)``."""
    found = [(" ".join(key), wordings.get(key) or (" ".join(vocabulary.lay_terms[key]),)) for key in keys]
    return tuple(dict.fromkeys(found))


def lay_wordings(vocabulary: Vocabulary) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Each lay term's clinical wordings as the packaged lay_terms.tsv separates them ("stage iv" | "stage 4"),
    where they are the vocabulary's own words (a vocabulary read from elsewhere shows its words joined)."""
    path = DATA_DIR / "lay_terms.tsv"
    found: dict[tuple[str, ...], list[str]] = {}
    for term, expansion in _read_tsv(path) if path.is_file() else ():
        key = tuple(vocabulary.fold(words(term)))
        found.setdefault(key, []).extend(" ".join(vocabulary.fold(words(w))) for w in expansion.split("|"))
    return {
        key: tuple(dict.fromkeys(w for w in wordings if w))
        for key, wordings in found.items()
        if {w for wording in wordings for w in wording.split()} == set(vocabulary.lay_terms.get(key, ()))
    }


def question_parts(text: str, corrections: dict[str, str]) -> list[tuple[str, bool]]:
    """``text`` in pieces, in order: each corrected word replaced by the word searched instead (True), the
    rest as typed (False). Joined, the pieces are the question as searched."""
    parts: list[tuple[str, bool]] = []
    at = 0
    for match in WORD.finditer(text) if corrections else ():
        fixed = corrections.get(match.group().lower())
        if fixed is None:
            continue
        if match.start() > at:
            parts.append((text[at : match.start()], False))
        parts.append((fixed, True))
        at = match.end()
    if at < len(text):
        parts.append((text[at:], False))
    return parts


def _replace_words(text: str, corrections: dict[str, str]) -> str:
    return "".join(part for part, _ in question_parts(text, corrections))
