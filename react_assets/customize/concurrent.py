"""Several trainings at once, one process each, with the CPU's cores shared out between them.

A training step of a small model is a chain of small matrix products, which two threads speed up
by far less than 2x: on a 2-core machine, two trainings with one thread each get through more
steps together than one training with both threads (``python -m bench.speed.concurrent_training``
measures it). So on a CPU the variants of a domain train side by side, each process with
``cores // trainings`` torch threads; on a GPU, inside a distributed run or in a daemonic process
they train one after the other in this process (:func:`concurrent_trainings`). An interrupted
call (a terminated run) kills its workers; each training keeps its last checkpoint.

Workers start from a fork server that has imported the training code once, so a worker costs a
fork, not a fresh interpreter's imports. Each worker's progress (``on_log``) comes back through a
queue and is reported here, tagged with the job's index, with one progress bar for all jobs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import torch
from tqdm.auto import tqdm

from react_assets.files.guard import Guard, current_guard, publish_guard
from react_assets.models.hardware import usable_cores

log = logging.getLogger(__name__)

# Imported once by the fork server, so forked workers start with them loaded.
PRELOAD = ["react_assets.customize.domain"]
_progress: Any = None  # the worker's queue back to the parent (set by _init_worker)


def concurrent_trainings(n_jobs: int, device: str = "auto", cores: int | None = None) -> int:
    """How many of ``n_jobs`` trainings run at once: one per core, at most ``n_jobs``, on a CPU;
    one on a GPU (the trainings would share its memory and its streams), in a distributed run
    (its process group belongs to one training) and in a daemonic process (which may not start
    processes: a Dask worker's, for one)."""
    on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if on_gpu or distributed or multiprocessing.current_process().daemon or n_jobs < 2:
        return 1
    return max(1, min(n_jobs, cores or usable_cores()))


def start_fork_server() -> None:
    """Start the workers' fork server now, so its imports overlap the caller's other work."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()


def _init_worker(progress: Any) -> None:
    global _progress
    _progress = progress
    # A process started in the background may inherit SIGTERM ignored; a worker must not.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _progress.put(("pid", os.getpid()))


def _report(index: int) -> Callable[[int, float, float], None]:
    return lambda step, loss, lr: _progress.put(("log", index, step, loss, lr))


def _call(fn: Callable[..., Any], index: int, kwargs: dict[str, Any], guard: Guard | None) -> Any:
    with publish_guard(guard):
        return fn(**kwargs, on_log=_report(index))


def run_trainings(fn: Callable[..., Any], jobs: Sequence[dict[str, Any]], workers: int,
                  on_log: Callable[[int, int, float, float], None] | None = None) -> list[Any]:
    """``[fn(**job, on_log=...) for job in jobs]``, ``workers`` at a time in forked processes
    (in this process, one after the other, when ``workers`` is 1).

    ``fn`` must be a module-level function (it is pickled by name) taking a ``train_config``
    (:class:`~react_assets.customize.train.TrainConfig`, whose ``threads`` get the cores shared
    out) and ``on_log(step, loss, lr)``; the jobs' arguments must be picklable.
    ``on_log(index, step, loss, lr)`` receives each job's progress. The first job that raises
    makes this raise, once the jobs already running have ended. The publish guard in force
    (:mod:`react_assets.files.guard`) holds in the workers too (it must be picklable).
    """
    if workers <= 1:
        return [fn(**job, on_log=None if on_log is None else (
            lambda step, loss, lr, i=i: on_log(i, step, loss, lr))) for i, job in enumerate(jobs)]
    threads = max(1, usable_cores() // workers)
    jobs = [job | {"train_config": dataclasses.replace(
        job["train_config"], threads=threads, progress_bar=False)} for job in jobs]
    log.info("training %d jobs, %d at a time with %d torch threads each", len(jobs), workers,
             threads)
    start_fork_server()
    context = multiprocessing.get_context("forkserver")
    # put() writes to the pipe before it returns, so a job's last report is there when its
    # future completes (a multiprocessing.Queue's feeder thread may still hold it)
    progress = context.SimpleQueue()
    relay = _Relay(progress, on_log, len(jobs))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                             initargs=(progress,)) as pool:
        futures = [pool.submit(_call, fn, i, job, current_guard()) for i, job in enumerate(jobs)]
        try:
            relay.until_done(futures)
        except BaseException:  # interrupted (a terminated run): stop the trainings too
            relay.stop_workers(min(workers, len(jobs)))
            raise
        try:
            return [future.result() for future in futures]
        except BrokenProcessPool as err:
            raise RuntimeError("a training process died (killed or out of memory); its "
                               "checkpoints are kept, so a re-run resumes it") from err


class _Relay:
    """The parent's end of the workers' queue: their progress, and their pids."""

    def __init__(self, progress: Any, on_log: Callable[[int, int, float, float], None] | None,
                 n_jobs: int) -> None:
        self.progress, self.on_log = progress, on_log
        self.bar = tqdm(desc=f"train {n_jobs} side by side", unit="step")
        self.last_step: dict[int, int] = {}
        self.pids: list[int] = []

    def until_done(self, futures: list[Future]) -> None:
        """Report progress until every job is done, or until one has failed and the jobs
        already running have ended (the others are cancelled)."""
        try:
            while True:
                done, pending = wait(futures, timeout=0.5, return_when=FIRST_EXCEPTION)
                self.drain()
                if not pending or any(f.exception() is not None for f in done):
                    for future in pending:
                        future.cancel()
                    wait(futures)
                    self.drain()
                    return
        finally:
            self.bar.close()

    def drain(self, report: bool = True) -> None:
        """Read what the workers sent: their pids, and their progress (reported if ``report``)."""
        while not self.progress.empty():
            kind, *values = self.progress.get()
            if kind == "pid":
                self.pids.append(values[0])
                continue
            index, step, loss, lr = values
            self.bar.update(step - self.last_step.get(index, 0))
            self.last_step[index] = step
            if report and self.on_log is not None:
                self.on_log(index, step, loss, lr)

    def stop_workers(self, workers: int) -> None:
        """SIGKILL every worker (waiting up to 5 s for the pids of those still starting): it
        cannot be ignored, which SIGTERM can be (inherited by a process started in the
        background), and a training holds nothing to clean up: it keeps its last checkpoint,
        written atomically, for the next run."""
        deadline = time.monotonic() + 5
        self.drain(report=False)
        while len(self.pids) < workers and time.monotonic() < deadline:
            time.sleep(0.05)
            self.drain(report=False)
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
