"""The index folder: manifest, generations on disk (store), FAISS index types, BM25, the embedding cache, the build."""
