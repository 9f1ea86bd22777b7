"""Speed benches: the throughput or latency of one stage, on synthetic or demo data."""
