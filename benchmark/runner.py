"""Running (encoder, task) pairs on a dataset, on one process or many, and writing run records.

:func:`run` is what ``bench run`` calls. With ``nproc > 1`` it starts that many local worker
processes (``torch.multiprocessing``, gloo on CPU, NCCL on CUDA); under ``torchrun`` it joins the
group described by the environment. Every rank executes the same :class:`RunSpec` list; only rank
0 writes records and artifacts. A worker that fails stops the others and is reported by rank.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import random
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import __version__, config as config_mod, distributed, guards, progress, threads as threads_mod
from benchmark.batch import StrokeBatch, collate
from benchmark.contracts import MetricValue, RunInfo, TaskResult
from benchmark.data.sketches import SketchData, SketchSplit
from benchmark.errors import BenchError
from benchmark.plugins import Manager, configure, get_manager
from benchmark.records import SCHEMA_VERSION, atomic_write_text, load_records, write_record

RECOGNITION = "recognition"


@dataclass(frozen=True)
class RunSpec:
    """One (task, encoder, dataset) run, resolved before any worker starts (picklable)."""

    run_id: str
    task: str
    encoder: str
    data: str
    config: dict[str, dict[str, Any]]
    seed: int
    results: str
    checkpoint: str | None = None
    resume: bool = False
    fingerprint: str = ""
    overrides: tuple[str, ...] = ()


@dataclass
class RunContext:
    """What a task's ``run`` receives: the encoder, the data, the config, the process group."""

    spec: RunSpec
    manager: Manager
    data: SketchData
    dist: distributed.DistInfo
    run_dir: Path
    checkpoint: Path | None = None
    notes: list[str] = field(default_factory=list)
    truncated: dict[str, int] = field(default_factory=lambda: {"strokes": 0, "points": 0})
    _step: int = 0

    # -- what the run is about --------------------------------------------------------------
    @property
    def encoder_cls(self):
        return self.manager.encoder(self.spec.encoder)

    @property
    def encoder_config(self) -> dict[str, Any]:
        return self.spec.config["encoder"]

    @property
    def task_config(self) -> dict[str, Any]:
        return self.spec.config["task"]

    @property
    def data_config(self) -> dict[str, Any]:
        return self.spec.config["data"]

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def device(self) -> torch.device:
        return torch.device(self.dist.device)

    @property
    def state_dir(self) -> Path:
        """Where a task keeps resumable state (rank 0 writes, every rank may read)."""
        return self.run_dir / "state"

    @property
    def info(self) -> RunInfo:
        return run_info(self.spec, self.dist)

    # -- models -----------------------------------------------------------------------------
    def build_encoder(self):
        """A freshly initialised encoder module on this rank's device (seeded by the run seed)."""
        torch.manual_seed(self.seed)
        return self.encoder_cls.build(len(self.data.categories), dict(self.encoder_config)).to(self.device)

    def load_encoder(self, folder: str | Path):
        """The encoder module stored in a checkpoint folder, on this rank's device, in eval mode."""
        from benchmark.checkpoints import load_checkpoint

        module, info = load_checkpoint(folder, self.encoder_cls, map_location=self.device)
        if info.get("categories") and info["categories"] != self.data.categories:
            raise BenchError(f"checkpoint {folder} was trained on other categories than dataset "
                             f"{self.data.name!r}; pass a matching --checkpoint")
        return module.eval()

    # -- data -------------------------------------------------------------------------------
    def stroke_counts(self, split: str) -> np.ndarray:
        return stroke_counts(self.data.split(split))

    def make_batch(self, split: SketchSplit, indices: np.ndarray) -> StrokeBatch:
        batch = collate(split.get(indices), split.labels[indices], indices,
                        max_strokes=self.data_config["max_strokes"], max_points=self.data_config["max_points"])
        return batch

    def eval_batches(self, split_name: str, batch_size: int, indices: np.ndarray | None = None
                     ) -> Iterator[StrokeBatch]:
        """This rank's exact share of a split (or of ``indices``), in batches of similar stroke
        counts. Across ranks every sample appears exactly once."""
        split = self.data.split(split_name)
        idx = np.arange(len(split)) if indices is None else np.asarray(indices)
        mine = distributed.shard(idx, self.dist.rank, self.dist.world_size)
        mine = mine[np.argsort(self.stroke_counts(split_name)[mine], kind="stable")]
        for start in range(0, len(mine), batch_size):
            batch = self.make_batch(split, mine[start:start + batch_size])
            self._count_truncation(batch)
            yield batch.to(self.device)

    def train_batches(self, split_name: str, batch_size: int, epoch: int, bucket_batches: int = 0
                      ) -> Iterator[tuple[StrokeBatch, int]]:
        """``(this rank's share, global batch size)`` for every global batch of an epoch; every
        rank takes the same number of steps and the plan does not depend on the world size."""
        split = self.data.split(split_name)
        least = self._least_batch()
        if batch_size < self.dist.world_size:
            raise BenchError(f"task.batch_size={batch_size} is smaller than the {self.dist.world_size} processes: "
                             f"every process needs part of every batch; raise task.batch_size")
        if len(split) < least:
            raise BenchError(f"split {split_name!r} of {self.data.name!r} has {len(split)} sketches: too few "
                             f"to train on (need at least {least})")
        lengths = self.stroke_counts(split_name) if bucket_batches else None
        for global_batch in distributed.epoch_batches(len(split), batch_size, self.seed, epoch, lengths,
                                                      bucket_batches, min_batch=least):
            mine = distributed.shard(global_batch, self.dist.rank, self.dist.world_size)
            batch = self.make_batch(split, mine)
            if epoch == 0:
                self._count_truncation(batch)
            yield batch.to(self.device), len(global_batch)

    def train_steps(self, split_name: str, batch_size: int) -> int:
        """How many global batches :meth:`train_batches` yields per epoch (the same every epoch)."""
        n = len(self.data.split(split_name))
        return len(distributed.epoch_batches(n, batch_size, self.seed, 0, min_batch=self._least_batch()))

    def _least_batch(self) -> int:
        """The smallest global batch: every rank needs a share of it."""
        return max(self.dist.world_size, distributed.MIN_BATCH)

    def _count_truncation(self, batch: StrokeBatch) -> None:
        self.truncated["strokes"] += batch.truncated_strokes
        self.truncated["points"] += batch.truncated_points

    def gather(self, index: np.ndarray, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Per-sample outputs of every rank, ordered by index, on rank 0 (``None`` elsewhere)."""
        return distributed.gather_by_index(self.dist, index, outputs)

    # -- reporting --------------------------------------------------------------------------
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Intermediate metrics for logger plugins (rank 0 only)."""
        if step is None:
            step = self._step
        self._step = step + 1
        if self.dist.is_main:
            self.manager.pm.hook.bench_log_metrics(run=self.info, step=step, metrics=dict(metrics))

    def note(self, text: str) -> None:
        """A caveat for the run record (and stderr)."""
        if text not in self.notes:
            self.notes.append(text)
            progress.say(f"[yellow]note:[/] {text}", self.dist.rank)

    def say(self, text: str) -> None:
        progress.say(text, self.dist.rank)


def stroke_counts(split: SketchSplit) -> np.ndarray:
    """``(n,)`` number of strokes of each sketch of a split."""
    cached = getattr(split, "_stroke_counts", None)
    if cached is None:
        ends = (split.points[:, 2] > 0.5).astype(np.int64)
        cum = np.concatenate(([0], np.cumsum(ends)))
        cached = cum[split.offsets[1:]] - cum[split.offsets[:-1]]
        split._stroke_counts = cached
    return cached


def run_info(spec: RunSpec, info: distributed.DistInfo) -> RunInfo:
    return RunInfo(run_id=spec.run_id, task=spec.task, encoder=spec.encoder, dataset=spec.data,
                   config=spec.config, seed=spec.seed, rank=info.rank, world_size=info.world_size)


# -- planning ---------------------------------------------------------------------------------
def new_run_id(task: str, encoder: str, data: str) -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    data_name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", Path(data).stem if _is_path(data) else data)
    return f"{stamp}-{task}-{encoder}-{data_name}-{secrets.token_hex(3)}"


def _is_path(data: str) -> bool:
    return data.endswith((".h5", ".hdf5")) or os.sep in data


def dataset_for(manager: Manager, data: str) -> tuple[type, dict[str, Any]]:
    """The dataset class and config overrides for ``--data``: a registered name or an ``.h5`` path."""
    if _is_path(data):
        if not Path(data).is_file():
            raise BenchError(f"--data {data}: no such file (prepare one with `bench data prepare`)")
        return manager.dataset("quickdraw"), {"path": str(Path(data).resolve())}
    return manager.dataset(data), {}


def plan(tasks: list[str], encoders: list[str], data: str, seed: int, results: str, overrides: list[str],
         checkpoint: str | None = None, resume: bool = False) -> list[RunSpec]:
    """Resolve names and configs for every (encoder, task) pair; unknown names fail here, before
    any work starts."""
    manager = get_manager()
    parsed = config_mod.parse_overrides(overrides)
    dataset_cls, data_fixed = dataset_for(manager, data)
    specs = []
    # a task that needs a trained classifier runs after the recognition run that may provide it
    tasks = sorted(dict.fromkeys(tasks), key=lambda t: manager.task(t).requires_trained)
    for encoder in encoders:
        encoder_cls = manager.encoder(encoder)
        for task in tasks:
            task_cls = manager.task(task)
            missing = task_cls.requires - encoder_cls.capabilities
            if missing:
                raise BenchError(
                    f"task {task!r} needs encoder capabilities {sorted(missing)}, which encoder {encoder!r} "
                    f"does not declare (it has: {sorted(encoder_cls.capabilities) or 'none'}); "
                    f"`bench list encoders` shows capabilities")
            defaults = {"task": task_cls.defaults, "encoder": encoder_cls.defaults,
                        "data": {**config_mod.DATA_DEFAULTS, **dataset_cls.defaults, **data_fixed}}
            cfg = config_mod.resolve(defaults, _applicable(parsed, defaults))
            _check_task_config(manager, task_cls, cfg["task"])
            if task_cls.requires_trained and checkpoint is None and RECOGNITION not in tasks:
                # the classifier this run may have to train first: its settings fail now, not later
                recognition_cls = manager.task(RECOGNITION)
                trained = {**defaults, "task": recognition_cls.defaults}
                _check_task_config(manager, recognition_cls,
                                   config_mod.resolve(trained, _applicable(parsed, trained))["task"])
            fingerprint = hashlib.sha256(json.dumps(
                [task, task_cls.version, encoder, data, cfg, seed], sort_keys=True, default=str).encode()).hexdigest()
            run_id = (_resumable(results, fingerprint) if resume else None) or new_run_id(task, encoder, data)
            specs.append(RunSpec(run_id, task, encoder, data, cfg, seed, results, checkpoint, resume, fingerprint,
                                 tuple(overrides)))
    return specs


def _check_task_config(manager: Manager, task_cls, config: dict[str, Any]) -> None:
    try:
        task_cls.check_config(config)
    except BenchError:
        raise
    except Exception as exc:  # a plugin's own checker failing is still a one-line error naming it
        raise BenchError(f"task {task_cls.name!r} (plugin {manager.entry('task', task_cls.name).plugin!r}) could "
                         f"not check its settings: {type(exc).__name__}: {exc}") from exc


def _applicable(overrides: list[tuple[str, Any]], defaults: dict[str, dict[str, Any]]) -> list[tuple[str, Any]]:
    """With several tasks or encoders in one command, a bare key only applies where it exists; a
    key that exists nowhere is still an error (raised by :func:`config.resolve`)."""
    keys = {k for section in defaults.values() for k in section}
    out = []
    for key, value in overrides:
        section, _, name = key.partition(".")
        known = name in defaults.get(section, {}) if name and section in config_mod.SECTIONS else key in keys
        if known or not _known_anywhere(key):
            out.append((key, value))
    return out


def _known_anywhere(key: str) -> bool:
    manager = get_manager()
    section, _, name = key.partition(".")
    pools = {"task": manager.tasks.values(), "encoder": manager.encoders.values(),
             "data": manager.datasets.values()}
    if name and section in pools:
        return name in config_mod.DATA_DEFAULTS or any(name in c.defaults for c in pools[section])
    return key in config_mod.DATA_DEFAULTS or any(key in c.defaults for p in pools.values() for c in p)


def _resumable(results: str, fingerprint: str) -> str | None:
    """The newest unfinished run with the same fingerprint, if any."""
    runs = Path(results) / "runs"
    candidates = []
    for marker in runs.glob("*/in_progress.json"):
        try:
            if json.loads(marker.read_text()).get("fingerprint") == fingerprint:
                candidates.append(marker.parent.name)
        except (OSError, json.JSONDecodeError):
            continue
    done = {p.stem for p in runs.glob("*.json")}
    candidates = sorted(c for c in candidates if c not in done)
    return candidates[-1] if candidates else None


# -- executing --------------------------------------------------------------------------------
def run(specs: list[RunSpec], nproc: int = 1, plugin_files: tuple[str, ...] = (), device: str | None = None,
        threads: int | None = None) -> list[dict[str, Any]]:
    """Execute ``specs`` on ``nproc`` local processes (or the torchrun group); returns the records
    written by rank 0 (an empty list on other torchrun ranks)."""
    if distributed.launched_by_torchrun():
        info = distributed.init(device=device)
        # every rank planned, but run ids are random: rank 0's plan is the one all ranks follow
        return guards.guard_peers(lambda: _execute_all(distributed.broadcast_object(info, specs), info, plugin_files, threads))
    if nproc <= 1:
        return _execute_all(specs, distributed.DistInfo(device=device or _default_device()), plugin_files, threads)
    return _spawn(specs, nproc, plugin_files, device, threads)


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _spawn(specs, nproc, plugin_files, device, threads) -> list[dict[str, Any]]:
    import tempfile

    import torch.multiprocessing as mp

    port = _free_port()
    out_dir = Path(tempfile.mkdtemp(prefix="bench-spawn-"))
    try:
        mp.start_processes(_worker, args=(specs, nproc, port, plugin_files, device, threads, str(out_dir)),
                           nprocs=nproc, start_method="spawn", join=True)
    except mp.ProcessRaisedException as exc:
        rank, error = _first_failure(out_dir) or (exc.error_index, _last_line(str(exc)))
        guards.mark_failed_specs(specs, error)
        raise BenchError(f"worker rank {rank} failed: {error}; the other workers were stopped and no record "
                         f"was written for the failed run") from None
    except mp.ProcessExitedException as exc:
        raise BenchError(f"worker rank {exc.error_index} died (exit code {exc.exit_code}"
                         f"{', signal ' + exc.signal_name if exc.signal_name else ''}); the other workers were "
                         f"stopped and no record was written for the failed run") from None
    finally:
        records_file = out_dir / "records.json"
        records = json.loads(records_file.read_text()) if records_file.exists() else []
        shutil.rmtree(out_dir, ignore_errors=True)
    return records


def _first_failure(out_dir: Path) -> tuple[int, str] | None:
    """``(rank, error)`` of the worker that failed first: the others usually fail after it, with
    a communication error that says nothing about the cause."""
    failures = []
    for path in out_dir.glob("error-rank*.json"):
        try:
            failures.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    if not failures:
        return None
    first = min(failures, key=lambda f: f["time"])
    return first["rank"], first["error"]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, specs, nproc, port, plugin_files, device, threads, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(nproc), LOCAL_RANK=str(rank))
    configure(plugin_files)
    if threads is None and (device or _default_device()) == "cpu":
        threads = threads_mod.auto_threads(nproc)
    try:
        info = distributed.init(rank, nproc, device)
        records = _execute_all(specs, info, plugin_files, threads)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        Path(out_dir, f"error-rank{rank}.json").write_text(json.dumps({"rank": rank, "time": time.time(),
                                                                         "error": error}))
        raise
    finally:
        distributed.shutdown()
    if rank == 0:
        Path(out_dir, "records.json").write_text(json.dumps(records))


def _execute_all(specs, info, plugin_files, threads) -> list[dict[str, Any]]:
    torch.set_num_threads(int(threads or threads_mod.auto_threads()))
    records = []
    opened: dict[str, SketchData] = {}
    for spec in specs:
        record = execute(spec, info, opened)
        if record is not None:
            records.append(record)
    return records


@guards.marks_failed_runs
def execute(spec: RunSpec, info: distributed.DistInfo, opened: dict[str, SketchData] | None = None
            ) -> dict[str, Any] | None:
    """Run one spec on this rank; rank 0 writes and returns the record. ``opened`` keeps the
    datasets already opened by earlier specs of the same command (reused, not read again)."""
    manager = get_manager()
    task_cls = manager.task(spec.task)
    encoder_entry = manager.entry("encoder", spec.encoder)
    started = time.time()
    created = _now()
    opened = {} if opened is None else opened
    data = _open_data(manager, spec, info, opened)
    data_s = time.time() - started
    run_dir = Path(spec.results) / "runs" / spec.run_id
    if info.is_main:
        atomic_write_text(run_dir / "in_progress.json",
                          json.dumps({"fingerprint": spec.fingerprint, "spec": asdict(spec)}, default=str))
    distributed.barrier(info)
    ctx = RunContext(spec=spec, manager=manager, data=data, dist=info, run_dir=run_dir)
    if data.synthetic:
        ctx.note(f"dataset {data.name!r} is synthetic (procedurally drawn), not human sketches")
    guards.check_sli_probe(ctx, task_cls)
    ctx.checkpoint = _checkpoint_for(ctx, task_cls, opened)
    random.seed(spec.seed)
    np.random.seed(spec.seed % 2**32)
    torch.manual_seed(spec.seed)
    manager.pm.hook.bench_run_started(run=ctx.info)
    ctx.say(f"[bold]{spec.task}[/] · {spec.encoder} · {data.name} · seed {spec.seed} · "
            f"{info.world_size} process{'es' if info.world_size > 1 else ''} ({info.device})")
    task_started = time.time()
    result = task_cls().run(ctx)
    if not isinstance(result, TaskResult):
        raise BenchError(f"task {spec.task!r} (plugin {manager.entry('task', spec.task).plugin!r}) returned "
                         f"{type(result).__name__}, not benchmark.TaskResult")
    task_s = time.time() - task_started
    distributed.barrier(info)
    if not info.is_main:
        return None
    record = build_record(ctx, task_cls, encoder_entry, result, created,
                          {"data_s": round(data_s, 3), "task_s": round(task_s, 3),
                           "total_s": round(time.time() - started, 3)})
    write_record(Path(spec.results) / "runs", record)
    (run_dir / "in_progress.json").unlink(missing_ok=True)
    if not any(run_dir.iterdir()):
        run_dir.rmdir()
    manager.pm.hook.bench_run_finished(run=ctx.info, record=record)
    return record


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
    recognition checkpoint in the results folder, training one first where there is none."""
    spec = ctx.spec
    if spec.checkpoint:
        path = Path(spec.checkpoint)
        if not path.is_dir():
            raise BenchError(f"--checkpoint {path}: no such folder")
        return path
    if not task_cls.requires_trained:
        return None
    found = None
    if ctx.dist.is_main:
        found = find_trained_checkpoint(spec.results, spec.encoder, ctx.data.identity()["checksum"],
                                        spec.config["encoder"], spec.config["data"])
    found = distributed.broadcast_object(ctx.dist, found)
    if found is None:
        ctx.say(f"[yellow]no trained {spec.encoder} classifier for dataset {ctx.data.name!r} in "
                f"{spec.results}: running the recognition task first[/]")
        recognition = None
        if ctx.dist.is_main:
            recognition = plan([RECOGNITION], [spec.encoder], spec.data, spec.seed, spec.results,
                               [*spec.overrides, *_encoder_data_overrides(spec)], resume=spec.resume)[0]
        record = execute(distributed.broadcast_object(ctx.dist, recognition), ctx.dist, opened)
        if ctx.dist.is_main and "checkpoint" in record["artifacts"]:
            found = Path(spec.results) / "runs" / record["artifacts"]["checkpoint"]
        found = distributed.broadcast_object(ctx.dist, found)
        if found is None:
            raise BenchError(f"the recognition run for {spec.encoder} produced no checkpoint")
    ctx.say(f"using classifier checkpoint {found}")
    return Path(found)


def _encoder_data_overrides(spec: RunSpec) -> list[str]:
    return [f"{section}.{k}={json.dumps(v)}" for section in ("encoder", "data")
            for k, v in spec.config[section].items()]


def find_trained_checkpoint(results: str, encoder: str, checksum: str, encoder_config: dict,
                            data_config: dict) -> Path | None:
    """The checkpoint of the newest recognition record for this encoder, config and data."""
    records, _ = load_records(results)
    matches = [r for r in records
               if r["task"]["name"] == RECOGNITION and r["encoder"]["name"] == encoder
               and r["dataset"]["checksum"] == checksum and r["config"]["encoder"] == encoder_config
               and all(r["config"]["data"].get(k) == data_config.get(k) for k in ("max_strokes", "max_points"))
               and "checkpoint" in r["artifacts"]]
    for record in sorted(matches, key=lambda r: r["finished"], reverse=True):
        path = Path(record["_path"]).parent / record["artifacts"]["checkpoint"]
        if path.is_dir():
            return path
    return None


# -- the record -------------------------------------------------------------------------------
def build_record(ctx: RunContext, task_cls, encoder_entry, result: TaskResult, created: str,
                 timings: dict[str, float]) -> dict[str, Any]:
    spec = ctx.spec
    task_entry = ctx.manager.entry("task", spec.task)
    metrics = {}
    for name, value in result.metrics.items():
        if name not in task_cls.metrics:
            raise BenchError(f"task {spec.task!r} reported metric {name!r} that it does not declare in `metrics`")
        mv = value if isinstance(value, MetricValue) else MetricValue(float(value))
        meta = task_cls.metrics[name]
        metrics[name] = {**mv.as_dict(), "higher_is_better": meta.higher_is_better,
                         "description": meta.description, "unit": meta.unit}
    parameters = result.extra.pop("parameters", None)
    if parameters is None:
        parameters = count_parameters(ctx.encoder_cls, len(ctx.data.categories), ctx.encoder_config)
    run_prefix = f"{spec.run_id}/"
    artifacts = {k: v if v.startswith(run_prefix) else run_prefix + v for k, v in result.artifacts.items()}
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "created": created,
        "finished": _now(),
        "task": {"name": spec.task, "version": task_cls.version, "plugin": task_entry.plugin,
                 "plugin_version": task_entry.plugin_version},
        "encoder": {"name": spec.encoder, "version": encoder_entry.cls.version, "plugin": encoder_entry.plugin,
                    "plugin_version": encoder_entry.plugin_version,
                    "capabilities": sorted(encoder_entry.cls.capabilities), "parameters": parameters},
        "dataset": ctx.data.identity(),
        "config": spec.config,
        "seed": spec.seed,
        "world_size": ctx.dist.world_size,
        "metrics": metrics,
        "timings": {**timings, **result.extra.pop("timings", {})},
        "artifacts": artifacts,
        "extra": {**result.extra, "truncated": dict(ctx.truncated),
                  "checkpoint_used": str(ctx.checkpoint) if ctx.checkpoint else None},
        "versions": versions(ctx.manager),
        "git": git_revision(),
        "host": host_facts(ctx.dist),
        "notes": list(ctx.notes),
    }


def count_parameters(encoder_cls, num_classes: int, config: dict[str, Any]) -> int:
    """Trainable parameters of an encoder, built on the meta device (no memory, no weights loaded)."""
    init_only = {k: None for k in encoder_cls.init_only if k in config}
    with torch.device("meta"):
        return encoder_cls.build(num_classes, {**config, **init_only}).num_parameters()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def versions(manager: Manager) -> dict[str, Any]:
    import importlib.metadata as md

    def version(dist_name: str) -> str | None:
        try:
            return md.version(dist_name)
        except md.PackageNotFoundError:
            return None

    return {"sketchxai_bench": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": version("transformers"), "numpy": np.__version__, "h5py": version("h5py"),
            "plugins": manager.plugin_versions()}


def git_revision() -> dict[str, Any] | None:
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
        return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def host_facts(info: distributed.DistInfo) -> dict[str, Any]:
    facts = {"hostname": socket.gethostname(), "platform": platform.platform(), "machine": platform.machine(),
             "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": info.device,
             "backend": info.backend}
    if info.device.startswith("cuda"):
        facts["gpu"] = torch.cuda.get_device_name(torch.device(info.device))
    return facts

