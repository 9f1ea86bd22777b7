"""Stage 2, embedding: each corpus shard encoded by the base CLIP into aligned image and caption
embeddings (or imported from clip-retrieval's output).

Import from the submodules; this file imports nothing.
"""
