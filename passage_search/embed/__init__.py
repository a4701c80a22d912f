"""Embedding models: what an embedder is (base), its model folder, the torch and ONNX Runtime backends, the factory."""
