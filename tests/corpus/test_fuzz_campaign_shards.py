"""The long fuzz campaign of the shard reader (issue 14).

In CI (``CI=true``) the campaign test runs ``CI_EXAMPLES`` (5,000) derandomized cases, elsewhere
``fuzz_support.DEV_EXAMPLES`` (300); ``REACT_FUZZ_EXAMPLES=n`` sets n. It reuses the generator of
``test_fuzz_shards`` but skips DuckDB, so a case costs milliseconds. Property, per case: a file is
refused by ``shard_file_problem`` with its reason, or read to the end within the time limit,
without an exception other than the refusal; every key whose header was read is either yielded
as a sample or counted as lost (no silent loss), every yielded sample validates to a pair or to a
known skip reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_support import campaign_settings, time_limit
from hypothesis import event, given
from test_fuzz_shards import LIMITS, REASONS, damaged_shards

from react_assets.corpus.ingest import PairRecord, iter_validated
from react_assets.corpus.shards import ShardReadStats, shard_file_problem

# 5,000 cases run every line of the library and raise every event that 10,000 do.
CI_EXAMPLES = 5_000
CAMPAIGN = campaign_settings(CI_EXAMPLES)


def read_accounted(path: Path) -> None:
    """Refused with a reason, or every key read is a pair, a skip with a known reason, or lost."""
    problem = shard_file_problem(path)
    if problem:
        event(f"refused: {problem.split(':')[0]}")
        assert problem.split(":")[0] in ("not_a_tar", "compressed_archive")
        return
    stats = ShardReadStats()
    yielded: list[str] = []
    with time_limit(20):
        for key, result in iter_validated(path, "fuzz", LIMITS, stats):
            yielded.append(key)
            assert isinstance(result, PairRecord) or result[0] in REASONS, result
            event("pair" if isinstance(result, PairRecord) else f"skip: {result[0]}")
    assert set(yielded) | set(stats.lost_keys) == stats.keys, "a key was read but not accounted"
    assert len(stats.lost_keys) <= 1 and (stats.archive_error is not None or not stats.lost_keys)
    event(f"archive error: {stats.archive_error is not None}")


@pytest.mark.slow
@CAMPAIGN
@given(data=damaged_shards())
def test_campaign_shard_reader(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "campaign-shard.tar"
    path.write_bytes(data)
    read_accounted(path)
