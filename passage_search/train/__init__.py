"""Fine-tuning the embedding model on consumer-health question data: ``passage-search train``.

``data`` reads and formats the training pairs, ``negatives`` mines hard negatives with our own BM25 index,
``encoder`` runs sentence-transformers' trainer, ``folder`` writes the model folder and its card,
``metrics`` measures a model on the dev data. Only ``encoder`` and ``folder`` need the ``train`` extra
(datasets, accelerate), and they import it inside the functions that use it.
"""

from __future__ import annotations

from passage_search.errors import PassageSearchError


class TrainError(PassageSearchError):
    """The training data, settings or output folder cannot be used as given."""
