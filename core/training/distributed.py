"""Data-parallel training over processes started by torchrun (DistributedDataParallel).

    torchrun --nproc_per_node=2 --no-python layerloom train model.json --data digits

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; `from_environment()` reads
them and `DistContext.init()` joins the process group: NCCL when the processes train on GPUs (each on
GPU LOCAL_RANK), Gloo on CPU. Each process trains on its own shard of the training split, chosen the
way torch's DistributedSampler does it (one shuffled order per epoch from the seed, padded to a
multiple of the world size, every WORLD_SIZE-th index from RANK on), so every process takes the same
number of steps; DDP averages the gradients, so every process holds the same weights. Validation is
sharded without padding and its sums are added up across processes, so metrics are exact. Only rank 0
writes the run folder and prints.

Multi-node: run the same command on every machine with `--nnodes=M --node_rank=I
--rdzv_backend=c10d --rdzv_endpoint=HOST:PORT` (HOST: one of the machines, reachable from all).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    backend: str = "gloo"
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def init(self, device_setting: str = "auto") -> torch.device:
        """Join the process group (if not joined yet) and return this process's device."""
        device = _process_device(device_setting, self.local_rank)
        self.backend = "nccl" if device.type == "cuda" else "gloo"
        if not dist.is_initialized():
            kwargs = {"timeout": datetime.timedelta(minutes=30)}
            if device.type == "cuda":
                torch.cuda.set_device(device)
                kwargs["device_id"] = device
            dist.init_process_group(backend=self.backend, **kwargs)
            self.initialized_here = True
        return device

    def close(self) -> None:
        """Leave the process group. With Gloo, the processes first wait for each other (at most a minute), so
        that none tears its connections down while another still uses them (a process aborted so once, in
        Gloo's threads, at the end of a finished run)."""
        if self.initialized_here and dist.is_initialized():
            if self.backend == "gloo":
                with contextlib.suppress(Exception):  # another process failed or left: leave all the same
                    dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))
            dist.destroy_process_group()
            self.initialized_here = False


def from_environment() -> DistContext | None:
    """The distributed context torchrun describes in the environment, or None for a single process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return None
    if world <= 1:
        return None
    return DistContext(rank=rank, world_size=world, local_rank=local)


def _process_device(setting: str, local_rank: int) -> torch.device:
    if setting in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if setting.startswith("cuda:") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if setting == "cuda" or setting.startswith("cuda:"):
        raise RuntimeError("CUDA was asked for but no GPU is available")
    return torch.device("cpu")


def shard_indices(n: int, *, epoch: int, seed: int, rank: int, world_size: int, shuffle: bool = True
                  ) -> torch.Tensor:
    """This process's training indices for `epoch`, as DistributedSampler (drop_last=False) picks them."""
    if shuffle:
        g = torch.Generator().manual_seed(seed + epoch)
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    per_rank = -(-n // world_size)
    total = per_rank * world_size
    if total > n:
        pad = total - n
        order = torch.cat([order, order.repeat(-(-pad // n))[:pad]])
    return order[rank:total:world_size]


def val_indices(n: int, *, rank: int, world_size: int) -> torch.Tensor:
    """This process's validation indices: every sample exactly once across processes."""
    return torch.arange(rank, n, world_size)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t
