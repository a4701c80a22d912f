"""passage-search: find the passage that answers a patient's question, with where it came from."""

from __future__ import annotations

__version__ = "0.1.0"
