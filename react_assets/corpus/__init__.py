"""Stage 1, the corpus: webdataset shards read sample by sample, ingested into the metadata store,
and read back by pair id.

Import from the submodules; this file imports nothing.
"""
