"""Process groups, exact sharding and gathering.

Evaluation shards a split across ``world_size`` processes *without padding or repeating samples*
(:func:`shard`), and :func:`gather_by_index` reassembles per-sample outputs on rank 0 in index
order, so metrics are identical for any process count. Training uses :func:`epoch_batches`: one
global batch plan per epoch (a function of seed and epoch only), each rank taking a strided share
of every global batch, so every rank runs the same number of steps.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank, world size, device and backend (``None`` when alone)."""

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when the environment carries torchrun's ``RANK``/``WORLD_SIZE`` variables."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init(rank: int | None = None, world_size: int | None = None, device: str | None = None,
         timeout_s: float = 300.0) -> DistInfo:
    """Join the process group described by the environment (``MASTER_ADDR``/``MASTER_PORT``),
    gloo on CPU and NCCL on CUDA. With world size 1 no group is created."""
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", rank % max(torch.cuda.device_count(), 1)))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if world_size <= 1:
        return DistInfo(0, 1, device, None)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=timeout_s))
    return DistInfo(rank, world_size, device, backend)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's share of ``indices``: every ``world_size``-th element from ``rank``.
    Shares are disjoint, cover every index exactly once and differ in size by at most one."""
    return np.asarray(indices)[rank::world_size]


#: The smallest global training batch (see :func:`epoch_batches`).
MIN_BATCH = 8


def epoch_batches(num_samples: int, batch_size: int, seed: int, epoch: int,
                  lengths: np.ndarray | None = None, bucket_batches: int = 0, min_batch: int = MIN_BATCH
                  ) -> list[np.ndarray]:
    """The global batches of one training epoch, the same on every rank.

    A permutation seeded by ``(seed, epoch)``; with ``lengths`` and ``bucket_batches > 0``,
    each run of ``bucket_batches`` batches is sorted by length before it is cut, so a batch holds
    sketches of similar stroke counts (little padding) while the epoch stays random; batch order
    is shuffled again afterwards. Every sample appears exactly once. A last batch shorter than
    ``min_batch`` joins the one before it, so that no rank gets an empty share; with the default
    (:data:`MIN_BATCH`) the plan is the same for any number of processes up to ``MIN_BATCH``.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(num_samples)
    if lengths is not None and bucket_batches > 0:
        chunk = batch_size * bucket_batches
        pieces = [order[i:i + chunk] for i in range(0, num_samples, chunk)]
        order = np.concatenate([p[np.argsort(lengths[p], kind="stable")] for p in pieces])
    batches = [order[i:i + batch_size] for i in range(0, num_samples, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < min_batch:
        batches[-2:] = [np.concatenate(batches[-2:])]
    if lengths is not None and bucket_batches > 0:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def gather_by_index(info: DistInfo, index: np.ndarray, outputs: dict[str, np.ndarray]
                    ) -> dict[str, np.ndarray] | None:
    """Reassemble per-sample ``outputs`` (arrays whose first axis matches ``index``) from every
    rank. Returns, on rank 0, the arrays ordered by ``index`` (plus ``"index"``); ``None`` elsewhere.
    Raises when an index arrives twice."""
    parts = [(np.asarray(index), {k: np.asarray(v) for k, v in outputs.items()})]
    if info.distributed:
        gathered: list = [None] * info.world_size if info.is_main else None
        dist.gather_object(parts[0], gathered, dst=0)
        if not info.is_main:
            return None
        parts = gathered
    idx = np.concatenate([p[0] for p in parts])
    order = np.argsort(idx, kind="stable")
    if len(np.unique(idx)) != len(idx):
        raise RuntimeError("gather_by_index: an index was produced by more than one rank")
    result = {k: np.concatenate([p[1][k] for p in parts])[order] for k in parts[0][1]}
    result["index"] = idx[order]
    return result


def broadcast_object(info: DistInfo, obj):
    """``obj`` from rank 0, on every rank."""
    if not info.distributed:
        return obj
    box = [obj if info.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_reduce_sum(info: DistInfo, values: np.ndarray) -> np.ndarray:
    """Element-wise sum of ``values`` over ranks (float64)."""
    if not info.distributed:
        return np.asarray(values, dtype=np.float64)
    t = torch.as_tensor(np.asarray(values, dtype=np.float64), device=info.device if info.backend == "nccl" else "cpu")
    dist.all_reduce(t)
    return t.cpu().numpy()
