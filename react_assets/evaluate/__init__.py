"""Stage 6, evaluation: ELEVATER metrics, zero-shot classification, image-text retrieval, a domain's
evaluation with every figure's bootstrap interval and paired comparisons, the promotion of a
domain's new model version by its policy, and the leaderboard.

Import from the submodules; this file imports nothing.
"""
