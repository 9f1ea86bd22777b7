"""Evaluation: ELEVATER metrics, zero-shot classification, dataset readers, retrieval, leaderboard.

Submodules: ``metrics`` (numpy), ``datasets`` (local readers), ``suite`` (ELEVATER domain specs),
``zeroshot``, ``retrieval_eval`` and ``leaderboard``. Import what you need from them; this package
file imports nothing heavy.
"""
