"""Text analysis shared by the index and the query: words, British/US spelling folding, lay terms, stems.

The word lists are plain TSV files shipped in ``passage_search/data/`` so they can be read and extended
without touching code.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
WORD = re.compile(r"[^\W_]+")
# Recorded in the manifest: an index is searched with the analyzer it was built with.
ANALYZER = "words+us-spelling+lucene-stopwords+snowball-english"
_local = threading.local()


def words(text: str) -> list[str]:
    """Lower-case words and numbers; hyphens and punctuation separate them."""
    return WORD.findall(text.lower())


def _read_tsv(path: Path) -> list[tuple[str, str]]:
    rows = []
    lines = [ln for ln in path.read_text("utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    for line in lines[1:]:  # the first line is the header
        left, _, right = line.partition("\t")
        if left.strip() and right.strip():
            rows.append((left.strip().lower(), right.strip().lower()))
    return rows


# Words a question needs but an answer does not show for: marking every "have" or "can" in a passage
# would hide the marks that matter (search/highlight.py), and a passage without "my" or "will" still answers
# "will I lose my leg" (search/confidence.py, coverage). Index terms drop only Lucene's short stopword list.
FUNCTION_WORDS = frozenset(
    "a about after all also am an and any are as at be been before being but by can could did do does doing "
    "for from get gets getting go going had has have having he her here him his how i if in into is it its "
    "just me more most my no not of off on or our out over she should so some than that the their them then "
    "there these they this those to too up us very was we were what when where which while who whom why will "
    "with would you your".split()
)


@dataclass(frozen=True)
class Vocabulary:
    spelling: dict[str, str]
    lay_terms: dict[tuple[str, ...], tuple[str, ...]]
    fingerprint: str

    def fold(self, tokens: Iterable[str]) -> list[str]:
        """British spellings to American ones, token by token (tumour -> tumor)."""
        return [self.spelling.get(t, t) for t in tokens]

    def lay_keys(self, tokens: Sequence[str]) -> list[tuple[str, ...]]:
        """The lay terms found in ``tokens`` (folded words), in order: the longest match at each place first.

        A phrase is found in any of its word forms, compared by stems ("comes back" is "come back"); a single
        word only as written, since a stem alone would widen it ("cancer" is not "cancerous", "returning to
        work" is not "returned"). The key returned is the vocabulary's own."""
        found: list[tuple[str, ...]] = []
        by_stems = self._lay_stems
        longest = max((len(k) for k in self.lay_terms), default=0)
        stems = _stem(list(tokens)) if by_stems else []
        i = 0
        while i < len(tokens):
            for n in range(min(longest, len(tokens) - i), 0, -1):
                key = tuple(tokens[i : i + n]) if n == 1 else by_stems.get(tuple(stems[i : i + n]))
                if key is not None and key in self.lay_terms:
                    found.append(key)
                    i += n
                    break
            else:
                i += 1
        return found

    @cached_property
    def _lay_stems(self) -> dict[tuple[str, ...], tuple[str, ...]]:
        # The phrases by their stems; the first in the file wins when two share them (forms of one term).
        by_stems: dict[tuple[str, ...], tuple[str, ...]] = {}
        for key in self.lay_terms:
            if len(key) > 1:
                by_stems.setdefault(tuple(_stem(list(key))), key)
        return by_stems

    def expansions(self, tokens: Sequence[str]) -> list[str]:
        """The clinical words for every lay term or abbreviation found in ``tokens`` (folded words)."""
        return self.clinical_words(self.lay_keys(tokens))

    def clinical_words(self, keys: Sequence[tuple[str, ...]]) -> list[str]:
        """The clinical words of the lay terms ``keys`` (``lay_keys``' answer), each once, in order."""
        found: list[str] = []
        for key in keys:
            found.extend(w for w in self.lay_terms[key] if w not in found)
        return found

    @cached_property
    def known_terms(self) -> frozenset[str]:
        # Asked for on every question: computed once per (frozen) vocabulary.
        return frozenset(w for key in self.lay_terms for w in key)


@lru_cache(maxsize=4)
def load_vocabulary(data_dir: Path = DATA_DIR) -> Vocabulary:
    spelling_file, lay_file = data_dir / "spelling.tsv", data_dir / "lay_terms.tsv"
    digest = hashlib.sha256()
    spelling: dict[str, str] = {}
    lay: dict[tuple[str, ...], tuple[str, ...]] = {}
    if spelling_file.is_file():
        digest.update(spelling_file.read_bytes())
        spelling = dict(_read_tsv(spelling_file))
    if lay_file.is_file():
        digest.update(lay_file.read_bytes())
        for term, expansion in _read_tsv(lay_file):
            key = tuple(spelling.get(w, w) for w in words(term))
            alternatives = [spelling.get(w, w) for w in words(expansion.replace("|", " "))]
            if key:
                lay[key] = tuple(dict.fromkeys([*lay.get(key, ()), *alternatives]))
    return Vocabulary(spelling, lay, digest.hexdigest()[:16])


def corpus_word_counts(texts: Iterable[str], vocabulary: Vocabulary) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(vocabulary.fold(words(text)))
    return dict(counts)


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def _stem(tokens: list[str]) -> list[str]:
    # PyStemmer objects are not safe to share between threads: one per thread.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return list(stemmer.stemWords(tokens))


def analyze(text: str, vocabulary: Vocabulary) -> list[str]:
    """Text to index terms: words, American spelling, no stopwords, Snowball stems."""
    stop = _stopwords()
    return _stem([w for w in vocabulary.fold(words(text)) if w not in stop])
