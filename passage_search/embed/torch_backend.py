"""The torch backend: a sentence-transformers model loaded from a local folder, on the CPU."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from passage_search.embed.base import default_threads
from passage_search.embed.model_folder import (
    batch_piece_counter,
    load_tokenizer,
    model_fingerprint,
    piece_counter,
    read_dimension,
    read_max_tokens,
    resolve_model,
    token_counter,
)
from passage_search.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on the CPU.

    Identity, window, vector size and token counts come from the folder's files, so a build that embeds
    nothing new never loads torch; the weights load at the first ``embed``.
    """

    backend = "torch"

    def __init__(self, model: str | None = None, *, threads: int | None = None) -> None:
        self.name, self.path = resolve_model(model)
        self.fingerprint = model_fingerprint(self.path)
        self._threads = threads
        self._model: SentenceTransformer | None = None
        self._counter: Callable[[str], int] | None = None

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            # Imported here: torch and transformers take seconds to import, and --help must not wait.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import transformers
            from sentence_transformers import SentenceTransformer

            # The "Loading weights" bar is noise on every start of the page and the CLI.
            transformers.logging.disable_progress_bar()

            threads = self._threads or default_threads()
            if threads is not None:
                sys.modules["torch"].set_num_threads(threads)  # imported with sentence_transformers
            try:
                self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
            except Exception as exc:  # any failure inside the model stack means the same thing to a user
                raise ModelError(f"The model at {self.path} could not be loaded ({exc}).") from exc
        return self._model

    @property
    def dimension(self) -> int:
        known = read_dimension(self.path)
        if known is not None:
            return known
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dimension = getter()
        if dimension is None:
            raise ModelError(f"The model at {self.path} does not say how long its vectors are.")
        return int(dimension)

    @property
    def max_tokens(self) -> int:
        # A model that states no window gets BERT's usual 512 word pieces.
        return read_max_tokens(self.path) or int(self.model.max_seq_length or 512)

    def count_tokens(self, text: str) -> int:
        if self._counter is None:
            tokenizer = load_tokenizer(self.path)
            self._counter = piece_counter(tokenizer) if tokenizer else token_counter(self.model.tokenizer)
        return self._counter(text)

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        tokenizer = load_tokenizer(self.path)
        if tokenizer is None:
            return [self.count_tokens(t) for t in texts]
        return batch_piece_counter(tokenizer)(texts)

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
