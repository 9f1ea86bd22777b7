"""parallel_map keeps input order, and a dying worker is an error, never a hang."""

from __future__ import annotations

import os

import pytest

from react_assets.demo.samples import parallel_map


def square(x: int) -> int:
    return x * x


def die_on_seven(x: int) -> int:
    if x == 7:
        os._exit(3)  # a worker killed mid-task (OOM killer, segfault in a decoder)
    return x


def test_results_come_back_in_input_order_over_processes():
    jobs = list(range(50))
    assert list(parallel_map(square, jobs, workers=2, total=len(jobs), desc="t")) == [
        x * x for x in jobs]


def test_a_worker_that_dies_raises_instead_of_hanging():
    with pytest.raises(RuntimeError, match="a worker process died"):
        list(parallel_map(die_on_seven, list(range(40)), workers=2, total=40, desc="t"))
