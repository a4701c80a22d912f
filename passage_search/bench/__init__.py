"""The benchmark: ``python -m passage_search.bench`` (build, query, scale and page figures, with a baseline)."""
