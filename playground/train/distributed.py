"""Data-parallel training under torchrun: which process this is, and the few
collective steps the training engine needs.

Without torchrun (no WORLD_SIZE in the environment, or 1) everything here is
the identity: one process, rank 0. Under ``torchrun --nproc-per-node N``, each
process joins a process group (gloo on the CPU, NCCL on CUDA with one device
per local rank), takes its shard of every global batch, and rank 0 alone
writes the run folder and reports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch

TIMEOUT = timedelta(seconds=120)   # a collective waiting longer than this means a rank is gone


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str = ""        # "gloo" or "nccl" under torchrun; "" for one process

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """The process that writes files and reports (rank 0)."""
        return self.rank == 0

    def describe(self) -> str:
        return f"{self.size} processes ({self.backend})" if self.active else "1 process"


def from_environment() -> World:
    """The World torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def join(world: World, device: torch.device) -> World:
    """Join the process group for ``device`` (NCCL for CUDA, else gloo); the World with its backend."""
    if not world.active:
        return world
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=TIMEOUT,
                                **({"device_id": device} if device.type == "cuda" else {}))
    return World(world.rank, world.size, world.local_rank, backend)


def leave(world: World) -> None:
    if world.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def batch_error(spec, world: World):
    """The located error for a global batch that does not divide among the processes."""
    from playground.core.errors import fail

    batch = spec.data.batch_size
    near = batch - batch % world.size or world.size
    return spec.locate(fail(("data", "batch_size"),
                               f"data.batch_size={batch} does not divide among {world.size} processes.",
                               f"data.batch_size is the global batch: make it a multiple of {world.size} (e.g. "
                               f"--batch-size {near}), or run on a number of processes that divides it.",
                               reason="spec"))


def wrap(model: torch.nn.Module, world: World, device: torch.device):
    """What the training step calls: the model itself, or under torchrun the model
    in DistributedDataParallel (gradients averaged over the processes, rank 0's
    buffers broadcast at each step). Checkpoints keep the unwrapped model."""
    if not world.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def barrier(world: World) -> None:
    if world.active:
        import torch.distributed as dist

        dist.barrier()


def shard(indices: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's part of a global batch: contiguous, as even as it can be (the
    last, short batch of an epoch may leave a rank fewer images, even none)."""
    if not world.active:
        return indices
    bounds = [len(indices) * r // world.size for r in range(world.size + 1)]
    return indices[bounds[world.rank]:bounds[world.rank + 1]]


def all_sum(values: torch.Tensor, world: World) -> torch.Tensor:
    """``values`` summed over the ranks (in place; the identity for one process)."""
    if world.active:
        import torch.distributed as dist

        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def any_rank(flag: bool, world: World, device: torch.device) -> bool:
    """Whether any rank says yes: so that all stop at the same step."""
    if not world.active:
        return flag
    return bool(all_sum(torch.tensor([1.0 if flag else 0.0], device=device), world).item() > 0)


def broadcast(value, world: World):
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if not world.active:
        return value
    import torch.distributed as dist

    box = [value if world.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]
