"""Guards shared by the fuzz tests: a wall-clock limit and peak memory growth of a block."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

from react_assets.corpus.shards import open_tar_stream, unsafe_member_reason


class Hang(BaseException):
    """Raised by SIGALRM; a BaseException so that no ``except`` in the code under test swallows it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def _alarm(signum: int, frame: object) -> None:
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Hang as err:
        raise AssertionError(f"hung: {err}") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[dict[str, int]]:
    """Peak resident memory growth in bytes while the block runs (Linux: resets VmHWM first)."""
    out: dict[str, int] = {}
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before, peak = _status_kib("VmRSS"), lambda: _status_kib("VmHWM")
    except OSError:
        before, peak = _maxrss_kib(), _maxrss_kib
    yield out
    out["bytes"] = max(0, peak() - before) * 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def read_members(tar_path: Path | str, names: set[str], *, max_member_bytes: int) -> Iterator[
    tuple[str, bytes]
]:
    """Yield (name, bytes) of the named members in tar order (re-reads ingested images), and stop
    after the last of them: a damaged header further on may declare a size of up to 2**88 bytes,
    which tarfile's stream mode would skip block by block past the end of the file: read through
    the shard reader's guarded stream."""
    wanted = set(names)
    with open_tar_stream(tar_path) as archive:
        for member in archive:
            if member.name in wanted and unsafe_member_reason(member) is None:
                if member.size > max_member_bytes:
                    raise ValueError(f"{tar_path}: member {member.name} grew past the size limit")
                handle = archive.extractfile(member)
                if handle is not None:
                    yield member.name, handle.read()
                    wanted.discard(member.name)
            if not wanted:
                return


# --- the fuzz campaign's size --------------------------------------------------------------------
# CI (CI=true) runs the long campaign, a campaign test's ``ci_examples`` cases (CAMPAIGN_EXAMPLES
# unless it says otherwise); elsewhere a short one of DEV_EXAMPLES; REACT_FUZZ_EXAMPLES=n sets n.
# These settings apply to the campaign tests only (other hypothesis tests keep their sizes).
CAMPAIGN_EXAMPLES = 10_000
DEV_EXAMPLES = 300


def campaign_settings(ci_examples: int = CAMPAIGN_EXAMPLES) -> object:
    """The hypothesis settings of a campaign test for this run: derandomized, no database, no
    deadline; ``ci_examples`` cases in CI, DEV_EXAMPLES elsewhere, REACT_FUZZ_EXAMPLES when set."""
    from hypothesis import HealthCheck, settings

    if os.environ.get("REACT_FUZZ_EXAMPLES"):
        examples = int(os.environ["REACT_FUZZ_EXAMPLES"])
    elif os.environ.get("CI", "").lower() in ("true", "1"):
        examples = ci_examples
    else:
        examples = DEV_EXAMPLES
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.large_base_example])
