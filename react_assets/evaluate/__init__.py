"""Stage 6, evaluation: ELEVATER metrics, zero-shot classification, image-text retrieval, a domain's
evaluation, and the leaderboard.

Import from the submodules; this file imports nothing.
"""
