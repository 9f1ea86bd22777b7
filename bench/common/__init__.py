"""What the benches share: result files, FLOP counting, a scratch copy of a materialized home."""
