"""Reranking the fused top hits with a cross-encoder: ``base`` (what a reranker is, where its folder is found)
and ``onnx_reranker`` (the trained cross-encoder run by ONNX Runtime). Trained by ``passage-search train
--reranker``; docs/training.md, "Reranker"."""
