"""Benchmarks of the REACT pipeline, run from the repository root as ``python -m bench.<kind>.<name>``.

Kinds: ``speed`` (throughput and latency of one stage), ``experiments`` (ablations and seed
spreads on a materialized home), ``load`` (whole backfills through the Dagster UI's API);
``common`` holds what they share. Each bench writes ``bench/results/<name>.json`` with
``bench.common.results.write_result``; ``python -m bench.common.render_docs`` renders those files
into ``docs/benchmarks.md``.
"""
