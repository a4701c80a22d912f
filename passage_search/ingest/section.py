"""A section: the text under one heading path of one document, as every reader returns it.

Splitting sections into passages that fit the model is the splitter's job, not the readers'.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    doc_id: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    source: str
    publisher: str = ""
