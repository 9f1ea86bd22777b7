"""Training over N processes (torch.distributed): the process group, the global batch split into
rank slices, features gathered for the contrastive loss, gradients averaged.

The contrastive loss needs every pair of the global batch as negatives. Each rank encodes its
slice of the batch, ``gather_features`` concatenates every rank's features in rank order (its
backward sums the gradient each rank sends back, i.e. ``world_size`` times the gradient of the
one loss every rank computes) and ``average_gradients`` averages over ranks as DDP does: the
update is exactly that of one process on the whole batch (up to float summation order). Rank 0
alone writes checkpoints and lineage. Without an initialised process group every function here
is the identity, so single-process training is unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

log = logging.getLogger(__name__)


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 without a process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Whether this process writes checkpoints, logs and lineage (rank 0, or the only one)."""
    return rank_and_world()[0] == 0


def local_device(device: torch.device) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` when training on CUDA under torchrun."""
    if device.type == "cuda" and device.index is None and rank_and_world()[1] > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


@contextlib.contextmanager
def process_group(backend: str | None = None) -> Iterator[tuple[int, int]]:
    """Join the group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment):
    nccl on CUDA, gloo on CPU; yields (rank, world size) and leaves the group on exit."""
    if "WORLD_SIZE" not in os.environ or dist.is_initialized():
        yield rank_and_world()
        return
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend=backend)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        log.info("rank %d of %d joined the %s process group", *rank_and_world(), backend)
        yield rank_and_world()
    finally:
        dist.destroy_process_group()


class RankSlices(Sampler):
    """This rank's contiguous slice of each global batch of ``batches`` (rank order = batch
    order). A batch that does not split evenly (an epoch's last) gives the first ranks one
    sample more; :func:`gather_features` puts the slices back together whatever their sizes."""

    def __init__(self, batches: Sampler, rank: int, world: int) -> None:
        self.batches, self.rank, self.world = batches, rank, world

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list]:
        for batch in self.batches:
            if len(batch) < self.world:
                raise ValueError(f"a global batch of {len(batch)} leaves some of {self.world} "
                                 "processes without a sample: use fewer processes or larger "
                                 "batches")
            size, extra = divmod(len(batch), self.world)
            start = self.rank * size + min(self.rank, extra)
            yield batch[start:start + size + (self.rank < extra)]


def gather_features(features: torch.Tensor) -> torch.Tensor:
    """Every rank's (B_r, D) features concatenated in rank order (B, D), differentiably; the
    ranks' slices may differ in size by one (padded for the exchange, trimmed after)."""
    world = rank_and_world()[1]
    if world == 1:
        return features
    from torch.distributed.nn.functional import all_gather
    size = torch.tensor([features.shape[0]], device=features.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    rows = [int(s) for s in sizes]
    padding = max(rows) - features.shape[0]
    if padding:
        features = torch.cat([features, features.new_zeros((padding, *features.shape[1:]))])
    gathered = all_gather(features.contiguous())
    return torch.cat([g[:n] for g, n in zip(gathered, rows, strict=True)], dim=0)


def average_gradients(parameters: Sequence[torch.nn.Parameter]) -> None:
    """All-reduce and average the gradients over ranks, in one flat buffer (as DDP's buckets)."""
    world = rank_and_world()[1]
    grads = [p.grad for p in parameters if p.grad is not None]
    if world == 1 or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()
