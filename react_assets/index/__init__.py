"""Stage 3, the index: faiss indexes over the corpus embeddings, their type chosen from corpus size
and memory, search parameters tuned to a measured recall.

Import from the submodules; this file imports nothing.
"""
