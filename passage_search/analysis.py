"""Patient vocabulary: British/US spelling folding, lay terms and abbreviations, misspelling repair.

The word lists are plain TSV files shipped in ``passage_search/data/`` so they can be read and extended
without touching code.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from symspellpy import SymSpell

DATA_DIR = Path(__file__).resolve().parent / "data"
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lower-case words and numbers; hyphens and punctuation separate them."""
    return _WORD.findall(text.lower())


def _read_tsv(path: Path) -> list[tuple[str, str]]:
    rows = []
    lines = [ln for ln in path.read_text("utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    for line in lines[1:]:  # the first line is the header
        left, _, right = line.partition("\t")
        if left.strip() and right.strip():
            rows.append((left.strip().lower(), right.strip().lower()))
    return rows


@dataclass(frozen=True)
class Vocabulary:
    spelling: dict[str, str]
    lay_terms: dict[tuple[str, ...], tuple[str, ...]]
    fingerprint: str

    def fold(self, tokens: Iterable[str]) -> list[str]:
        """British spellings to American ones, token by token (tumour -> tumor)."""
        return [self.spelling.get(t, t) for t in tokens]

    def expansions(self, tokens: Sequence[str]) -> list[str]:
        """The clinical words for every lay term or abbreviation found in ``tokens`` (folded words)."""
        found: list[str] = []
        longest = max((len(k) for k in self.lay_terms), default=0)
        i = 0
        while i < len(tokens):
            for n in range(min(longest, len(tokens) - i), 0, -1):
                key = tuple(tokens[i : i + n])
                if key in self.lay_terms:
                    found.extend(w for w in self.lay_terms[key] if w not in found)
                    i += n
                    break
            else:
                i += 1
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


# A word this frequent in English (symspellpy's 82,765-word frequency list, counts from a web corpus) is
# taken as meant even when the corpus lacks it: "healthy" is not a misspelling of "health". Rarer words
# may still be misspellings of a medical word ("prostrate" for "prostate").
COMMON_ENGLISH_COUNT = 1_000_000


@lru_cache(maxsize=1)
def common_english_words(threshold: int = COMMON_ENGLISH_COUNT) -> frozenset[str]:
    import symspellpy

    path = Path(symspellpy.__file__).with_name("frequency_dictionary_en_82_765.txt")
    common = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            word, _, count = line.rstrip("\n").partition(" ")
            if count.isdigit() and int(count) >= threshold:
                common.add(word)
    return frozenset(common)


class SpellingCorrector:
    """Repairs words that are neither in the corpus nor common English to the nearest corpus word."""

    def __init__(self, counts: dict[str, int], *, max_distance: int = 2, min_length: int = 4) -> None:
        from symspellpy import SymSpell  # imported here: building the delete table is only needed for queries

        self.counts = counts
        self.max_distance = max_distance
        self.min_length = min_length
        self.common = common_english_words()
        self._sym: SymSpell = SymSpell(max_dictionary_edit_distance=max_distance, prefix_length=7)
        for word, count in counts.items():
            if len(word) >= min_length - max_distance and not word.isdigit():
                self._sym.create_dictionary_entry(word, count)

    def correct(self, word: str) -> str:
        if word in self.counts or word in self.common or len(word) < self.min_length or not word.isalpha():
            return word
        from symspellpy import Verbosity

        distance = 1 if len(word) < 7 else self.max_distance
        suggestions = self._sym.lookup(word, Verbosity.TOP, max_edit_distance=distance)
        return suggestions[0].term if suggestions else word


def corpus_word_counts(texts: Iterable[str], vocabulary: Vocabulary) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(vocabulary.fold(words(text)))
    return dict(counts)
