"""Misspelling repair for questions: a word neither in the corpus nor common English becomes the nearest corpus word."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from symspellpy import SymSpell

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
