"""The task API: :class:`RunContext`, what a task's ``run`` receives (encoder, data, config,
process group) and the one way it writes per-sketch results."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import distributed, metrics as metrics_mod, progress
from benchmark.batch import StrokeBatch, collate
from benchmark.contracts import MetricValue, RunInfo
from benchmark.data.sketches import SketchData, SketchSplit
from benchmark.errors import BenchError
from benchmark.model import fresh_module
from benchmark.plugins import Manager
from benchmark.records import PER_SKETCH, atomic_write_text
from benchmark.run.plan import RunSpec


@dataclass
class RunContext:
    """What a task's ``run`` receives: the encoder, the data, the config, the process group.

    ``model_config`` / ``model_source``: the encoder config the module was really built from and
    where it came from (``"command"``, or ``"checkpoint <folder>"``); they go into the record."""

    spec: RunSpec
    manager: Manager
    data: SketchData
    dist: distributed.DistInfo
    run_dir: Path
    checkpoint: Path | None = None
    notes: list[str] = field(default_factory=list)
    truncated: dict[str, int] = field(default_factory=lambda: {"strokes": 0, "points": 0})
    model_config: dict[str, Any] | None = None
    model_source: str = "command"
    per_sketch_metrics: dict[str, MetricValue] = field(default_factory=dict)
    per_sketch_file: str | None = None
    _step: int = 1  # logged steps count from 1, as epochs in the progress lines

    # -- what the run is about --------------------------------------------------------------
    @property
    def task_cls(self):
        return self.manager.task(self.spec.task)

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
        module = self.encoder_cls.build(len(self.data.categories), dict(self.encoder_config)).to(self.device)
        if self.model_config is None:  # the run's model is the first one built or loaded
            self._built_from(dict(self.encoder_config), "command")
        return module

    def load_encoder(self, folder: str | Path):
        """The encoder module stored in a checkpoint folder, on this rank's device, in eval mode;
        the record then shows the checkpoint's encoder config, not the command's. A source that is
        no :mod:`benchmark.checkpoints` folder (a published checkpoint: file, folder or hub id)
        goes to the encoder's ``load_external``."""
        from benchmark.checkpoints import CONFIG, WEIGHTS, is_checkpoint, load_checkpoint

        if not is_checkpoint(folder):
            loaded = self.encoder_cls.load_external(str(folder), len(self.data.categories))
            if loaded is None:
                raise BenchError(f"--checkpoint {folder}: not a checkpoint folder (expected {CONFIG} and {WEIGHTS} "
                                 f"written by sketchxai-bench in it), and encoder {self.encoder_cls.name!r} loads no "
                                 f"other kind of checkpoint")
            module, config = loaded
            if self.model_config is None:
                self._built_from(dict(config), f"external checkpoint {folder}")
            return module.to(self.device).eval()
        module, info = load_checkpoint(folder, self.encoder_cls, map_location=self.device)
        if info.get("categories") and info["categories"] != self.data.categories:
            raise BenchError(f"checkpoint {folder} was trained on other categories than dataset "
                             f"{self.data.name!r}; pass a matching --checkpoint")
        if self.model_config is None:  # the run's model is the first one built or loaded
            self._built_from(dict(info["config"]), f"checkpoint {folder}")
        return module.eval()

    def random_encoder(self, stream: int = 1):
        """The run's model architecture (the config of the first model built or loaded) at fresh
        random weights (:func:`benchmark.model.fresh_module`), in eval mode, seeded by ``(run seed, stream)``:
        the model-randomisation control (Adebayo et al., 2018) of an explanation or inversion computed on
        the trained model, and the module the settings guards probe before training."""
        config = self.model_config if self.model_config is not None else self.encoder_config
        return fresh_module(self.encoder_cls, len(self.data.categories), config, self.seed * 1000 + stream, self.device)

    def _built_from(self, config: dict[str, Any], source: str) -> None:
        self.model_config, self.model_source = config, source
        differing = sorted(k for k in config if k in self.encoder_config and config[k] != self.encoder_config[k])
        if differing and source != "command":
            self.note(f"encoder settings {', '.join(differing)} come from {source}, not from the command")

    # -- data -------------------------------------------------------------------------------
    def stroke_counts(self, split: str) -> np.ndarray:
        return stroke_counts(self.data.split(split))

    def make_batch(self, split: SketchSplit, indices: np.ndarray) -> StrokeBatch:
        return collate(split.get(indices), split.labels[indices], indices,
                       max_strokes=self.data_config["max_strokes"], max_points=self.data_config["max_points"])

    def eval_batches(self, split_name: str, batch_size: int, indices: np.ndarray | None = None,
                     split: SketchSplit | None = None) -> Iterator[StrokeBatch]:
        """This rank's exact share of a split (or of ``indices``), in batches of similar stroke
        counts. Across ranks every sample appears exactly once. ``split``: a split the task derived
        from ``split_name`` (e.g. with distractor strokes added) to batch instead of the data's own."""
        own = split is None or split is self.data.split(split_name)
        split = self.data.split(split_name) if split is None else split
        idx = np.arange(len(split)) if indices is None else np.asarray(indices)
        mine = distributed.shard(idx, self.dist.rank, self.dist.world_size)
        counts = self.stroke_counts(split_name) if own else stroke_counts(split)
        mine = mine[np.argsort(counts[mine], kind="stable")]
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
            raise BenchError(f"{self.spec.task}.batch_size={batch_size} is smaller than the {self.dist.world_size} "
                             f"processes: every process needs part of every batch; raise it")
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

    # -- per-sketch results -----------------------------------------------------------------
    def write_per_sketch(self, split_name: str, rows: Sequence[dict[str, Any]]) -> None:
        """Write the run's per-sketch results (rank 0, once) and compute every per-sketch metric
        the task declares from them (:mod:`benchmark.metrics`).

        Each row is one sketch of ``split_name``: ``index`` (its index in the split) plus the
        fields the task's metrics read and whatever else the task wants kept (JSON values;
        non-finite floats become ``null``). The core adds ``key_id`` where the split has them.
        Schema: the per-sketch rows in :mod:`benchmark.records`. Rows are checked on rank 0 only (they
        are there only): call it after the task's last collective."""
        if not self.dist.is_main:
            return
        if self.per_sketch_file is not None:
            raise BenchError(f"task {self.spec.task!r} wrote its per-sketch results twice")
        split = self.data.split(split_name)
        key_ids = getattr(split, "key_ids", None)
        declared = {n: m for n, m in self.task_cls.metrics.items() if m.fields}
        needed = {f for m in declared.values() for f in (*m.fields, *m.same)}
        clean = []
        for number, row in enumerate(rows):
            missing = sorted({"index", *needed} - row.keys())
            if missing:
                raise BenchError(f"task {self.spec.task!r}: per-sketch row {number} lacks {', '.join(missing)}")
            index = int(row["index"])
            key = None if key_ids is None else str(key_ids[index])
            clean.append({"index": index, "key_id": key, **{k: _json_value(v) for k, v in row.items() if k != "index"}})
        text = "".join(json.dumps(r, allow_nan=False, sort_keys=False) + "\n" for r in clean)
        atomic_write_text(self.run_dir / PER_SKETCH, text)
        self.per_sketch_file = PER_SKETCH
        for name, metric in declared.items():
            self.per_sketch_metrics[name] = metrics_mod.aggregate(
                metric.aggregation, metrics_mod.columns(clean, metric.fields), self.seed)

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


def _json_value(value: Any) -> Any:
    """A per-sketch value as JSON: numpy scalars and arrays unwrapped, non-finite floats null
    (full precision otherwise: the leaderboard's tests recompute the metrics from these rows)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


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
