"""Building a run's record (schema in :mod:`benchmark.records`) from what the task returned and
what the run context saw: the metrics with their declarations, the config the model was built
with, versions, git revision and host facts."""

from __future__ import annotations

import datetime
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import __version__, distributed
from benchmark.contracts import MetricValue, TaskResult
from benchmark.errors import BenchError
from benchmark.model_size import count_parameters
from benchmark.plugins import Manager
from benchmark.records import PER_SKETCH_ARTIFACT, SCHEMA_VERSION, portable_paths
from benchmark.run.context import RunContext


def build_record(ctx: RunContext, result: TaskResult, created: str, timings: dict[str, float]) -> dict[str, Any]:
    spec = ctx.spec
    task_cls = ctx.task_cls
    task_entry = ctx.manager.entry("task", spec.task)
    encoder_entry = ctx.manager.entry("encoder", spec.encoder)
    values: dict[str, MetricValue] = {}
    for name, value in result.metrics.items():
        if name not in task_cls.metrics:
            raise BenchError(f"task {spec.task!r} reported metric {name!r} that it does not declare in `metrics`")
        if task_cls.metrics[name].fields:
            raise BenchError(f"task {spec.task!r} returned per-sketch metric {name!r} itself; per-sketch metrics "
                             f"come from ctx.write_per_sketch")
        values[name] = value if isinstance(value, MetricValue) else MetricValue(float(value))
    values.update(ctx.per_sketch_metrics)
    positions = {name: i for i, name in enumerate(task_cls.metrics)}
    variant = ",".join(str(ctx.task_config.get(k)) for k in task_cls.variant_keys)
    metrics = {name: {**values[name].as_dict(), **task_cls.metrics[name].declaration(positions[name], variant)}
               for name in task_cls.metrics if name in values}
    model_config = ctx.model_config if ctx.model_config is not None else ctx.encoder_config
    parameters = result.extra.pop("parameters", None)
    if parameters is None:
        parameters = count_parameters(ctx.encoder_cls, len(ctx.data.categories), model_config)
    run_prefix = f"{spec.run_id}/"
    artifacts = dict(result.artifacts)
    if ctx.per_sketch_file:
        artifacts[PER_SKETCH_ARTIFACT] = ctx.per_sketch_file
    artifacts = {k: v if v.startswith(run_prefix) else run_prefix + v for k, v in artifacts.items()}
    record = {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.run_id,
        "created": created,
        "finished": now(),
        "task": {"name": spec.task, "version": task_cls.version, "plugin": task_entry.plugin,
                 "plugin_version": task_entry.plugin_version, "order": task_cls.order,
                 "variant": {k: ctx.task_config.get(k) for k in task_cls.variant_keys},
                 "row_keys": {k: spec.config["task"].get(k) for k in task_cls.row_keys},
                 "family": task_cls.family or spec.task, "question": task_cls.question,
                 "row_facts": list(task_cls.row_facts)},
        "encoder": {"name": spec.encoder, "version": encoder_entry.cls.version, "plugin": encoder_entry.plugin,
                    "plugin_version": encoder_entry.plugin_version,
                    "capabilities": sorted(encoder_entry.cls.capabilities), "parameters": parameters,
                    "config_source": ctx.model_source},
        "dataset": ctx.data.identity(),
        "config": {**spec.config, "encoder": model_config},
        "seed": spec.seed,
        "seeds": list(spec.seeds),
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
    portable_paths(record, spec.results)  # files by relative path or name and sha256, never this machine's paths
    return record


def now() -> str:
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
    root = Path(__file__).resolve().parents[2]
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
