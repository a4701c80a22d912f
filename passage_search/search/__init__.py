"""Searching an index: question analysis, retrievers, fusion, confidence, and the one SearchResult."""
