"""Stage 4, retrieval: class-name x template queries against the index, merged, de-duplicated and
decontaminated into a domain's training pairs.

Import from the submodules; this file imports nothing.
"""
