"""Trainings side by side: the same models as one after the other, cores shared, progress relayed,
and a failing training fails the call."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from ddp_train import world

from react_assets.customize.concurrent import concurrent_trainings, run_trainings
from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.train import TrainConfig, train_contrastive
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.models.hardware import usable_cores


def train_tiny(variant: str, train_config: TrainConfig, on_log=None) -> dict:
    """A job as run_trainings calls it: trains the tiny model, returns what it did."""
    bundle = create_base_model(BaseModelConfig(arch="react-tiny", init_seed=0))
    model = customize_model(bundle.model, CustomizationConfig(variant=variant,
                                                              num_gated_blocks=2))
    images, captions = world()
    result = train_contrastive(model, images, captions, bundle.tokenizer,
                               bundle.preprocess_train, train_config, on_log=on_log)
    return {"variant": variant, "losses": result.losses, "threads": torch.get_num_threads()}


def fail_at_second_step(variant: str, train_config: TrainConfig, on_log=None) -> dict:
    def stop(step: int, loss: float, lr: float) -> None:
        if on_log is not None:
            on_log(step, loss, lr)
        if step == 2:
            raise RuntimeError(f"{variant} ran out of memory")

    if variant == "locked-text":
        return train_tiny(variant, train_config, on_log=stop)
    return train_tiny(variant, train_config, on_log=on_log)


def train_long(variant: str, train_config: TrainConfig, pid_dir: str, on_log=None) -> dict:
    """A job that writes its pid, then trains for far longer than the test waits."""
    Path(pid_dir, f"{variant}.pid").write_text(str(os.getpid()))
    done = train_tiny(variant, dataclasses.replace(train_config, epochs=300), on_log=on_log)
    Path(pid_dir, f"{variant}.done").touch()
    return done


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _jobs() -> list[dict]:
    config = TrainConfig(epochs=3, batch_size=6, lr=2e-3, warmup_steps=1, num_workers=0,
                         log_every=1, checkpoint_every=100, seed=3, threads=1)
    return [{"variant": v, "train_config": config} for v in ("gated-image", "locked-text")]


@pytest.mark.slow  # two trainings, one after the other, then side by side
def test_side_by_side_trains_the_same_models_with_the_cores_shared_and_progress_relayed():
    previous = torch.get_num_threads()
    alone = run_trainings(train_tiny, _jobs(), workers=1)
    torch.set_num_threads(previous)
    reported: list[tuple[int, int]] = []
    together = run_trainings(train_tiny, _jobs(), workers=2,
                             on_log=lambda i, step, loss, lr: reported.append((i, step)))
    assert [r["variant"] for r in together] == ["gated-image", "locked-text"]  # job order
    for one, other in zip(alone, together, strict=True):
        np.testing.assert_allclose(one["losses"], other["losses"], rtol=1e-4)
    assert {r["threads"] for r in together} == {max(1, usable_cores() // 2)}
    steps = len(alone[0]["losses"])
    for index in (0, 1):
        assert [s for i, s in reported if i == index] == list(range(1, steps + 1))


def test_a_failing_training_fails_the_call_with_its_error():
    with pytest.raises(RuntimeError, match="locked-text ran out of memory"):
        run_trainings(fail_at_second_step, _jobs(), workers=2)


def test_an_interrupted_call_stops_its_trainings(tmp_path):
    """A run terminated while its variants train (here: the progress callback raises) stops
    the worker processes instead of leaving them training."""
    def interrupt(index: int, step: int, loss: float, lr: float) -> None:
        if step >= 3:
            raise KeyboardInterrupt

    jobs = [job | {"pid_dir": str(tmp_path)} for job in _jobs()]
    with pytest.raises(KeyboardInterrupt):
        run_trainings(train_long, jobs, workers=2, on_log=interrupt)
    pids = [int(f.read_text()) for f in tmp_path.glob("*.pid")]
    assert len(pids) == 2
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)
    assert not list(tmp_path.glob("*.done"))  # stopped, not waited for


def test_how_many_train_at_once():
    assert concurrent_trainings(3, "cpu", cores=2) == 2
    assert concurrent_trainings(2, "cpu", cores=16) == 2
    assert concurrent_trainings(4, "cpu", cores=1) == 1
    assert concurrent_trainings(1, "cpu", cores=8) == 1
    assert concurrent_trainings(2, "cuda", cores=8) == 1


def _count_in_a_daemon(answer) -> None:
    answer.put(concurrent_trainings(2, "cpu", cores=8))


@pytest.mark.slow  # a spawned interpreter imports torch
def test_a_daemonic_process_trains_one_at_a_time():
    """A Dask worker runs its tasks in a daemonic process, which may not start processes."""
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    daemon = context.Process(target=_count_in_a_daemon, args=(answer,), daemon=True)
    daemon.start()
    assert answer.get(timeout=120) == 1
    daemon.join(timeout=30)
