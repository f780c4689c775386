"""Exact sharding: per-sample outputs and metrics identical for world sizes 1, 2 and 3 (real gloo)."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch.multiprocessing as mp

from benchmark import distributed

N = 11  # divisible by none of 2 and 3


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world_size, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    info = distributed.init(rank, world_size, "cpu")
    try:
        mine = distributed.shard(np.arange(N), info.rank, info.world_size)
        outputs = {"square": mine.astype(np.float64) ** 2, "rank": np.full(len(mine), info.rank)}
        gathered = distributed.gather_by_index(info, mine, outputs)
        total = distributed.all_reduce_sum(info, np.array([outputs["square"].sum(), len(mine)]))
        if info.is_main:
            np.savez(os.path.join(out_dir, f"w{world_size}.npz"), total=total, **gathered)
    finally:
        distributed.shutdown()


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_gather_reassembles_every_sample_once(world_size, tmp_path):
    mp.start_processes(_worker, args=(world_size, _port(), str(tmp_path)), nprocs=world_size,
                       start_method="spawn", join=True)
    out = np.load(tmp_path / f"w{world_size}.npz")
    np.testing.assert_array_equal(out["index"], np.arange(N))
    np.testing.assert_array_equal(out["square"], np.arange(N) ** 2)
    np.testing.assert_array_equal(out["total"], [np.sum(np.arange(N) ** 2), N])
    assert set(out["rank"]) == set(range(world_size))


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_shards_are_disjoint_and_complete(world_size):
    shards = [distributed.shard(np.arange(N), r, world_size) for r in range(world_size)]
    assert sorted(np.concatenate(shards).tolist()) == list(range(N))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_epoch_batches_cover_each_sample_once_and_bucket_by_length():
    lengths = np.random.default_rng(0).integers(1, 30, size=1003)
    batches = distributed.epoch_batches(1003, 100, seed=3, epoch=1, lengths=lengths, bucket_batches=5)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1003))
    assert min(map(len, batches)) >= distributed.MIN_BATCH
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < np.ptp(lengths) / 2  # batches hold similar lengths
    again = distributed.epoch_batches(1003, 100, seed=3, epoch=1, lengths=lengths, bucket_batches=5)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    other = distributed.epoch_batches(1003, 100, seed=3, epoch=2, lengths=lengths, bucket_batches=5)
    assert not np.array_equal(np.concatenate(other), flat)


def test_short_last_batch_joins_the_previous_one():
    batches = distributed.epoch_batches(203, 100, seed=0, epoch=0)
    assert [len(b) for b in batches] == [100, 103]
