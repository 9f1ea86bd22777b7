"""One training over N processes of this machine (torch.distributed), started from the caller.

:func:`train_over_processes` starts N ranks from the training code's fork server (each a fork
of a process that imported it once, as :mod:`react_assets.customize.concurrent`'s workers), each
joining one process group on this host as torchrun would describe it (RANK, LOCAL_RANK,
WORLD_SIZE, MASTER_ADDR, MASTER_PORT): gloo on CPU, the caller's torch threads (its share of the
cores) split among the ranks; nccl on CUDA, one rank per GPU.
:mod:`react_assets.customize.distributed` does the rest: each rank trains on its slice of every
global batch, gradients are averaged, rank 0 alone writes the checkpoints and the saved model.
Rank 0's result comes back to the caller, which records it (metadata, MLflow) once. A rank that
fails fails the call; an interrupted call (a terminated run) kills the ranks, and the training
keeps its last checkpoint.

Past one machine the ranks are started by a launcher on every node (``torchrun --nnodes M
--nproc_per_node N --node_rank i --master_addr HOST --master_port PORT``), each running the same
training; ``react_assets.customize.distributed.process_group`` joins the group it describes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from react_assets.customize.concurrent import start_fork_server
from react_assets.customize.distributed import process_group
from react_assets.files.guard import Guard, current_guard, publish_guard

log = logging.getLogger(__name__)

BACKENDS = ("gloo", "nccl")


@dataclass(frozen=True)
class LaunchConfig:
    """How many processes one training uses, and how they talk."""

    processes: int = 1
    backend: str | None = None  # None: nccl when the training runs on CUDA, else gloo

    def __post_init__(self) -> None:
        if self.processes < 1:
            raise ValueError(f"LaunchConfig.processes={self.processes}: must be >= 1")
        if self.backend is not None and self.backend not in BACKENDS:
            raise ValueError(f"LaunchConfig.backend={self.backend!r}: expected one of {BACKENDS}")


def on_cuda(device: str) -> bool:
    """Whether a training on ``device`` (a TrainConfig's: "auto", "cpu", "cuda[:i]") uses CUDA."""
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of ``host`` nothing listens on now (the process group's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def train_over_processes(fn: Callable[..., Any], job: dict[str, Any], config: LaunchConfig,
                         on_log: Callable[[int, float, float], None] | None = None) -> Any:
    """``fn(**job, on_log=...)`` run by ``config.processes`` ranks at once; rank 0's result.

    ``fn`` must be a module-level function (pickled by name) taking a ``train_config``
    (:class:`~react_assets.customize.train.TrainConfig`: on CPU its ``threads`` are this
    process's torch threads split among the ranks) and ``on_log(step, loss, lr)``, which rank 0
    reports back here; the job's arguments must be picklable, and so must the publish guard in
    force (handed to every rank).
    With one process, ``fn`` runs here.
    """
    if config.processes == 1:
        return fn(**job, on_log=on_log)
    cuda = on_cuda(job["train_config"].device)
    if cuda and config.processes > torch.cuda.device_count():
        raise ValueError(f"{config.processes} processes on CUDA but {torch.cuda.device_count()} "
                         "GPU(s) here: one process per GPU")
    backend = config.backend or ("nccl" if cuda else "gloo")
    threads = None if cuda else max(1, torch.get_num_threads() // config.processes)
    job = job | {"train_config": dataclasses.replace(job["train_config"], threads=threads)}
    start_fork_server()
    context = multiprocessing.get_context("forkserver")
    results = context.SimpleQueue()  # rank 0's progress, then its result
    rendezvous = ("127.0.0.1", free_port())
    log.info("training over %d processes (%s, %s torch threads each)", config.processes,
             backend, threads or "default")
    ranks = torch.multiprocessing.start_processes(
        _rank_main, args=(config.processes, rendezvous, backend, fn, job, results,
                          current_guard()),
        nprocs=config.processes, join=False, start_method="forkserver")
    outcome: list[Any] = []
    try:
        while not ranks.join(timeout=0.5):
            _drain(results, on_log, outcome)
    except BaseException:
        for process in ranks.processes:  # a failed rank, or this call interrupted
            if process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
        raise
    _drain(results, on_log, outcome)
    if not outcome:
        raise RuntimeError(f"{config.processes} training processes ended without rank 0's result")
    return outcome[0]


def _drain(results: Any, on_log: Callable[[int, float, float], None] | None,
           outcome: list[Any]) -> None:
    while not results.empty():
        kind, *values = results.get()
        if kind == "result":
            outcome.append(values[0])
        elif on_log is not None:
            on_log(*values)


def _rank_main(rank: int, world: int, rendezvous: tuple[str, int], backend: str,
               fn: Callable[..., Any], job: dict[str, Any], results: Any,
               guard: Guard | None) -> None:
    """One rank: join the group, train, and (rank 0) send progress and the result back."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # may be inherited ignored
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": rendezvous[0],
                       "MASTER_PORT": str(rendezvous[1])})
    report = None
    if rank == 0:
        def report(step: int, loss: float, lr: float) -> None:
            results.put(("log", step, loss, lr))
    else:
        job = job | {"train_config": dataclasses.replace(job["train_config"],
                                                         progress_bar=False)}
    with publish_guard(guard), process_group(backend):
        result = fn(**job, on_log=report)
    if rank == 0:
        results.put(("result", result))
