"""Executing one planned run on this rank: open the data (once per command), find or train the
classifier a task needs, run the task, and on rank 0 write the record."""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import distributed, guards
from benchmark.contracts import TaskResult
from benchmark.data.sketches import SketchData
from benchmark.errors import BenchError
from benchmark.plugins import Manager, get_manager
from benchmark.records import atomic_write_text, load_records, write_record
from benchmark.run.context import RunContext
from benchmark.run.plan import RunSpec, dataset_for, describe
from benchmark.run.record import build_record, now

#: The artifact label of a trained classifier (a folder of :mod:`benchmark.checkpoints`).
CHECKPOINT = "checkpoint"


@guards.marks_failed_runs
def execute(spec: RunSpec, info: distributed.DistInfo, opened: dict[str, SketchData] | None = None
            ) -> dict[str, Any] | None:
    """Run one spec on this rank; rank 0 writes and returns the record. ``opened`` keeps the
    datasets already opened by earlier specs of the same command (reused, not read again)."""
    manager = get_manager()
    task_cls = manager.task(spec.task)
    started = time.time()
    created = now()
    opened = {} if opened is None else opened
    data = _open_data(manager, spec, info, opened)
    data_s = time.time() - started
    run_dir = Path(spec.results) / "runs" / spec.run_id
    if info.is_main and not (spec.resume and (run_dir / "in_progress.json").is_file()):  # a resume keeps it
        atomic_write_text(run_dir / "in_progress.json",
                          json.dumps({"fingerprint": spec.fingerprint, "spec": asdict(spec)}, default=str))
    distributed.barrier(info)
    ctx = RunContext(spec=spec, manager=manager, data=data, dist=info, run_dir=run_dir)
    if data.synthetic:
        ctx.note(f"dataset {data.name!r} is synthetic (procedurally drawn), not human sketches")
    guards.check_location_gradient(ctx, task_cls)
    ctx.checkpoint = _checkpoint_for(ctx, task_cls, opened)
    random.seed(spec.seed)
    np.random.seed(spec.seed % 2**32)
    torch.manual_seed(spec.seed)
    manager.pm.hook.bench_run_started(run=ctx.info)
    ctx.say(f"[bold]{describe(spec)}[/] · "
            f"{info.world_size} process{'es' if info.world_size > 1 else ''} ({info.device})")
    task_started = time.time()
    result = task_cls().run(ctx)
    if not isinstance(result, TaskResult):
        raise BenchError(f"task {spec.task!r} (plugin {manager.entry('task', spec.task).plugin!r}) returned "
                         f"{type(result).__name__}, not benchmark.TaskResult")
    task_s = time.time() - task_started
    _note_truncation(ctx)
    distributed.barrier(info)
    if not info.is_main:
        return None
    record = build_record(ctx, result, created, {"data_s": round(data_s, 3), "task_s": round(task_s, 3),
                                                 "total_s": round(time.time() - started, 3)})
    write_record(Path(spec.results) / "runs", record)
    (run_dir / "in_progress.json").unlink(missing_ok=True)
    if not any(run_dir.iterdir()):
        run_dir.rmdir()
    manager.pm.hook.bench_run_finished(run=ctx.info, record=record)
    return record


def _note_truncation(ctx: RunContext) -> None:
    """Say (stderr, one line) and note in the record what collate dropped from the input, if anything."""
    strokes, points = ctx.truncated["strokes"], ctx.truncated["points"]
    if strokes or points:
        limits = " / ".join(f"data.{k}={v}" for k, v in ctx.spec.config["data"].items()
                            if k in ("max_strokes", "max_points") and v is not None)
        ctx.note(f"collate truncated the input: {strokes} stroke(s) and {points} point(s) dropped beyond "
                 f"{limits or 'the encoder limits'} (raise them with --set to keep every stroke)")


def _open_data(manager: Manager, spec: RunSpec, info: distributed.DistInfo, opened: dict[str, SketchData]
               ) -> SketchData:
    key = json.dumps([spec.data, spec.config["data"]], sort_keys=True, default=str)
    if key not in opened:
        dataset_cls, _ = dataset_for(manager, spec.data)
        if not info.is_main:
            distributed.barrier(info)  # rank 0 opens first: it may generate and cache the data
        opened[key] = dataset_cls.open(dict(spec.config["data"]))
        if info.is_main:
            distributed.barrier(info)
    return opened[key]


def _checkpoint_for(ctx: RunContext, task_cls, opened: dict[str, SketchData]) -> Path | None:
    """``--checkpoint``, else for tasks that need a trained classifier the newest matching
    checkpoint of the provider task in the results folder, training one first where there is none."""
    spec = ctx.spec
    if spec.checkpoint:
        path = Path(spec.checkpoint).expanduser()
        hub_like = spec.checkpoint.count("/") == 1 and not spec.checkpoint.startswith((".", "/", "~"))
        if not path.exists() and not hub_like:
            raise BenchError(f"--checkpoint {spec.checkpoint}: no such file or folder (nor a hub id of the form "
                             f"'owner/name')")
        return path
    if not task_cls.requires_trained:
        return None
    provider_cls = ctx.manager.classifier_provider(spec.encoder, spec.data)
    provider = provider_cls.name
    found = None
    if ctx.dist.is_main:
        found = find_trained_checkpoint(spec.results, provider, spec.encoder, ctx.data.identity()["checksum"],
                                        spec.config["encoder"], spec.config["data"], spec.classifier_settings or {},
                                        spec.seed, {k: provider_cls.defaults.get(k)
                                                    for k in provider_cls.distinct_settings})
    found = distributed.broadcast_object(ctx.dist, found)
    if found is None:
        if spec.classifier is None:  # the provider was in the command and left no checkpoint
            raise BenchError(f"the {provider} run for {spec.encoder} produced no checkpoint")
        ctx.say(f"[yellow]no trained {spec.encoder} classifier for dataset {ctx.data.name!r} in "
                f"{spec.results}: running task {provider} first[/]")
        record = execute(spec.classifier, ctx.dist, opened)
        if ctx.dist.is_main and CHECKPOINT in record["artifacts"]:
            found = Path(spec.results) / "runs" / record["artifacts"][CHECKPOINT]
        found = distributed.broadcast_object(ctx.dist, found)
        if found is None:
            raise BenchError(f"the {provider} run for {spec.encoder} produced no checkpoint")
    ctx.say(f"using classifier checkpoint {found}")
    return Path(found)


def find_trained_checkpoint(results: str, task: str, encoder: str, checksum: str, encoder_config: dict,
                            data_config: dict, task_settings: dict | None = None, seed: int | None = None,
                            distinct: dict | None = None) -> Path | None:
    """The checkpoint of the newest record of ``task`` for this encoder, config and data whose task
    config has ``task_settings`` (the provider settings the command named), trained with ``seed``
    (any seed when ``None``), so each seed of a multi-seed command explains its own classifier.
    ``distinct``: the provider's :attr:`~benchmark.contracts.Task.distinct_settings` with their
    defaults; one the command did not name must be at its default (a record without it counts so)."""
    records, _ = load_records(results)
    named = dict(task_settings or {})
    defaults = {k: v for k, v in (distinct or {}).items() if k not in named}
    matches = [r for r in records
               if r["task"]["name"] == task and r["encoder"]["name"] == encoder
               and r["dataset"]["checksum"] == checksum and r["config"]["encoder"] == encoder_config
               and all(r["config"]["data"].get(k) == data_config.get(k) for k in ("max_strokes", "max_points"))
               and all(r["config"]["task"].get(k) == v for k, v in named.items())
               and all(r["config"]["task"].get(k, v) == v for k, v in defaults.items())
               and (seed is None or r["seed"] == seed)
               and CHECKPOINT in r["artifacts"]]
    for record in sorted(matches, key=lambda r: r["finished"], reverse=True):
        path = Path(record["_path"]).parent / record["artifacts"][CHECKPOINT]
        if path.is_dir():
            return path
    return None
