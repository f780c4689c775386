"""Planning: every (task, encoder) pair of a command resolved into a :class:`RunSpec` before any
work starts, so unknown names and unusable settings fail at once, in one line.

Settings are routed by name (:func:`benchmark.config.route`): ``NAME.key`` for one task,
``task.key`` / ``encoder.key`` / ``data.key`` for every task / encoder of the command that has the
key, a bare key where it is unambiguous. A task that needs a trained classifier (``requires_trained``)
carries, when no ``--checkpoint`` is given, the spec of the classifier run it may have to do first:
the provider task (hook ``bench_classifier_provider``) with its defaults plus only the settings that
name it.
A task with an ``explainer`` setting (attribution tasks) gets one run per explainer: those of
``--explainer`` (else its setting), plus every control explainer (``Explainer.control``: ``random``
and the model-blind statistics built in), each checked against the encoder's capabilities. Given a
``skipped`` list (the whole benchmark for an encoder), a task or explainer the encoder cannot take
is listed there with the reason instead of failing the command.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmark import config as config_mod
from benchmark.errors import BenchError
from benchmark.model_size import check_fits, count_parameters
from benchmark.plugins import Manager, get_manager


@dataclass(frozen=True)
class RunSpec:
    """One (task, encoder, dataset) run, resolved before any worker starts (picklable).

    ``classifier``: for a task that needs a trained classifier and has no ``checkpoint``, the run
    that trains one when the results folder holds none for this encoder, config and data;
    ``classifier_settings``: the provider settings the command named (``recognition.epochs=40``),
    which a reused classifier's record must match."""

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
    classifier: RunSpec | None = None
    classifier_settings: dict[str, Any] | None = None
    #: every seed of the command (``--seed 0,1,2``): the runs of one row and task over these seeds
    #: are aggregated by the leaderboard; empty for a one-seed command.
    seeds: tuple[int, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """A (task, encoder[, explainer]) the whole benchmark leaves out, and why."""

    task: str
    encoder: str
    reason: str
    explainer: str | None = None

    def __str__(self) -> str:
        who = f"{self.task} · {self.encoder}" + (f" · explainer {self.explainer}" if self.explainer else "")
        return f"skipped {who}: {self.reason}"


def qualifiers(task_cls, cfg: dict[str, dict[str, Any]]) -> list[tuple[str, Any]]:
    """The settings that tell a task's runs apart on a leaderboard (``Task.variant_keys``, e.g. the
    SLI ``preset``, and ``Task.row_keys``, e.g. the ``explainer``), with their values."""
    keys = dict.fromkeys((*task_cls.variant_keys, *task_cls.row_keys))
    return [(k, cfg["task"][k]) for k in keys if k in cfg["task"]]


def describe(spec: RunSpec) -> str:
    """``task · encoder · data · seed N[ · explainer E][ · preset P]``: one run, as every line names it
    (dry-run, progress, summary); ``data`` as :func:`data_names` names it."""
    manager = get_manager()
    named = "".join(f" · {k} {v}" for k, v in qualifiers(manager.task(spec.task), spec.config))
    name, *file = data_names(manager, spec.data)
    data = f"{name} ({file[0]})" if file else name
    return f"{spec.task} · {spec.encoder} · {data} · seed {spec.seed}{named}"


def data_names(manager: Manager, data: str) -> tuple[str, ...]:
    """``--data`` by the one name it has everywhere (``bench list datasets``, records, leaderboards):
    ``(dataset,)`` for a registered dataset, ``(dataset, file name)`` for a file, e.g.
    ``("quickdraw", "qd30.h5")``."""
    if data in manager.datasets or not is_path(data):
        return (data,)
    return dataset_for(manager, data)[0].name, Path(data).name


def new_run_id(task: str, encoder: str, data: Sequence[str], named: Sequence[Any] = ()) -> str:
    """``STAMP-task-encoder-data[-file][-explainer][-preset]-HEX`` (the record's file name); ``data``:
    :func:`data_names` (a file by its stem: ``quickdraw-qd30``)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parts = [task, encoder, data[0], *(Path(name).stem for name in data[1:]), *(str(v) for v in named)]
    middle = "-".join(re.sub(r"[^A-Za-z0-9_.\-]+", "_", part) for part in parts)
    return f"{stamp}-{middle}-{secrets.token_hex(3)}"


def is_path(data: str) -> bool:
    """Whether ``--data`` looks like a file (a folder separator or a suffix) rather than a name."""
    return "/" in data or "\\" in data or Path(data).suffix != ""


def dataset_for(manager: Manager, data: str) -> tuple[type, dict[str, Any]]:
    """The dataset class and fixed config for ``--data``: a registered name, or a file opened by
    the dataset that declares its suffix (``Dataset.suffixes``)."""
    if data in manager.datasets or not is_path(data):
        return manager.dataset(data), {}
    suffix = Path(data).suffix.lower()
    owners = [cls for cls in manager.datasets.values() if suffix in cls.suffixes]
    if not owners:
        known = sorted({s for cls in manager.datasets.values() for s in cls.suffixes})
        raise BenchError(f"--data {data}: no registered dataset opens {suffix or 'suffix-less'} files "
                         f"(known: {', '.join(known) or 'none'}); prepare one with `bench data prepare`")
    if not Path(data).is_file():
        raise BenchError(f"--data {data}: no such file (prepare one with `bench data prepare`)")
    return owners[0], {"path": str(Path(data).resolve())}


def plan(tasks: list[str], encoders: list[str], data: str, seed: int | Sequence[int], results: str,
         overrides: list[str], checkpoint: str | None = None, resume: bool = False,
         explainers: list[str] | None = None, skipped: list[Skipped] | None = None) -> list[RunSpec]:
    """Resolve names and configs for every (encoder, task) pair (and explainer, for tasks with an
    ``explainer`` setting); unknown names and unusable settings fail here, before any work starts.
    Several seeds (``[0, 1, 2]``) plan every run once per seed, seed by seed, each SLI-style run
    with the classifier of its own seed. With ``skipped`` (a list), pairs and explainers that need a
    capability the encoder lacks are appended to it (:class:`Skipped`) instead of raising."""
    if not isinstance(seed, int):
        seeds = tuple(dict.fromkeys(int(s) for s in seed))
        if not seeds:
            raise BenchError("--seed: give at least one seed, e.g. --seed 0 or --seed 0,1,2")
        if len(seeds) == 1:
            return plan(tasks, encoders, data, seeds[0], results, overrides, checkpoint, resume, explainers, skipped)
        out = []
        for s in seeds:
            once: list[Skipped] | None = [] if skipped is not None else None
            out += [replace(spec, seeds=seeds, classifier=replace(spec.classifier, seeds=seeds) if spec.classifier else None)
                    for spec in plan(tasks, encoders, data, s, results, overrides, checkpoint, resume, explainers, once)]
            if skipped is not None:
                skipped += [x for x in once if x not in skipped]
        return out
    manager = get_manager()
    dataset_cls, data_fixed = dataset_for(manager, data)
    # a task that needs a trained classifier runs after the run in the command that may provide it
    task_classes = {t: manager.task(t) for t in dict.fromkeys(tasks)}
    task_classes = dict(sorted(task_classes.items(), key=lambda item: item[1].requires_trained))
    encoder_classes = {e: manager.encoder(e) for e in dict.fromkeys(encoders)}
    data_defaults = {**config_mod.DATA_DEFAULTS, **dataset_cls.defaults, **data_fixed}
    routed = config_mod.route(config_mod.parse_overrides(overrides),
                              {t: c.defaults for t, c in task_classes.items()},
                              {t: c.defaults for t, c in manager.tasks.items()},
                              {e: c.defaults for e, c in encoder_classes.items()}, data_defaults)
    if explainers and not any(EXPLAINER in c.defaults for c in task_classes.values()):
        raise BenchError(f"--explainer needs a task with an {EXPLAINER!r} setting (`bench list tasks --json` shows "
                         f"settings); none of {', '.join(task_classes)} has one")
    specs, built = [], set()
    for encoder, encoder_cls in encoder_classes.items():
        for task, task_cls in task_classes.items():
            try:
                _check_capabilities(task_cls, encoder_cls)
            except BenchError as exc:
                if skipped is None:
                    raise
                skipped.append(Skipped(task, encoder, _short(exc)))
                continue
            base = routed.config(task, task_cls.defaults, encoder_cls.defaults, data_defaults)
            for cfg in _explainer_configs(manager, task_cls, encoder_cls, base, explainers, skipped):
                check_config(manager, task_cls, encoder_cls, dataset_cls, cfg, built)
                classifier = None
                if task_cls.requires_trained and checkpoint is None:
                    provider = manager.classifier_provider(encoder, data)
                    if provider.name not in task_classes:
                        provider_cfg = routed.config(provider.name, provider.defaults, encoder_cls.defaults,
                                                     data_defaults, in_command=False)
                        check_config(manager, provider, encoder_cls, dataset_cls, provider_cfg, built)
                        classifier = _spec(provider, encoder_cls, data, provider_cfg, seed, results, None, resume)
                specs.append(_spec(task_cls, encoder_cls, data, cfg, seed, results, checkpoint, resume, classifier,
                                   routed.named.get(classifier.task, {}) if classifier else None))
    return specs


#: The task setting naming an explainer, and the one holding per-explainer settings
#: (``{explainer name: {key: value}}``).
EXPLAINER, EXPLAINER_CONFIG = "explainer", "explainer_config"


def _short(exc: BenchError) -> str:
    """The reason part of a capability error (up to its advice)."""
    return str(exc).split("; ")[0]


def _explainer_configs(manager: Manager, task_cls, encoder_cls, cfg: dict, explainers: list[str] | None,
                       skipped: list[Skipped] | None = None) -> list[dict]:
    """The run configs of one (task, encoder): one per explainer for a task with an ``explainer``
    setting (the named ones, then the controls), else ``cfg`` itself."""
    if EXPLAINER not in task_cls.defaults:
        return [cfg]
    names = list(dict.fromkeys(explainers or [cfg["task"][EXPLAINER]]))
    names += [n for n, c in sorted(manager.explainers.items()) if c.control and n not in names]
    settings = cfg["task"].get(EXPLAINER_CONFIG) or {}
    if not isinstance(settings, dict):
        raise BenchError(f"{task_cls.name}.{EXPLAINER_CONFIG} must be a JSON object "
                         f'{{explainer: {{key: value}}}}, e.g. {{"shapley": {{"samples": 64}}}}')
    for name, own in settings.items():  # every explainer's settings are checked, run or not
        if not isinstance(own, dict):
            raise BenchError(f"{task_cls.name}.{EXPLAINER_CONFIG}: the settings of {name!r} must be a JSON object")
        manager.explainer(name).check_config(own)
    out = []
    for name in names:
        explainer_cls = manager.explainer(name)
        missing = explainer_cls.requires - encoder_cls.capabilities
        if missing:
            if skipped is not None:
                skipped.append(Skipped(task_cls.name, encoder_cls.name, f"explainer {name!r} needs encoder "
                                       f"capabilities {sorted(missing)}, which it does not declare", name))
                continue
            able = sorted(e for e, c in manager.encoders.items() if explainer_cls.requires <= c.capabilities)
            raise BenchError(f"explainer {name!r} needs encoder capabilities {sorted(missing)}, which encoder "
                             f"{encoder_cls.name!r} does not declare; encoders that have them: "
                             f"{', '.join(able) or 'none'} (`bench list explainers` shows requirements)")
        own = settings.get(name) or {}
        out.append({**cfg, "task": {**cfg["task"], EXPLAINER: name, EXPLAINER_CONFIG: {name: own} if own else {}}})
    return out


def _spec(task_cls, encoder_cls, data: str, cfg: dict, seed: int, results: str, checkpoint: str | None,
          resume: bool, classifier: RunSpec | None = None, classifier_settings: dict | None = None) -> RunSpec:
    """A spec whose fingerprint (what ``--resume`` matches) covers everything that shapes the run,
    the classifier it would train included."""
    fingerprint = hashlib.sha256(json.dumps(
        [task_cls.name, task_cls.version, encoder_cls.name, encoder_cls.version, data, cfg, seed, checkpoint,
         classifier.fingerprint if classifier else None], sort_keys=True, default=str).encode()).hexdigest()
    run_id = ((_resumable(results, fingerprint) if resume else None)
              or new_run_id(task_cls.name, encoder_cls.name, data_names(get_manager(), data),
                             [v for _, v in qualifiers(task_cls, cfg)]))
    return RunSpec(run_id, task_cls.name, encoder_cls.name, data, cfg, seed, results, checkpoint, resume, fingerprint,
                   classifier, classifier_settings)


def _check_capabilities(task_cls, encoder_cls) -> None:
    missing = task_cls.requires - encoder_cls.capabilities
    if missing:
        raise BenchError(
            f"task {task_cls.name!r} needs encoder capabilities {sorted(missing)}, which encoder "
            f"{encoder_cls.name!r} does not declare (it has: {sorted(encoder_cls.capabilities) or 'none'}); "
            f"`bench list encoders` shows capabilities")


def check_config(manager: Manager, task_cls, encoder_cls, dataset_cls, cfg: dict[str, dict[str, Any]],
                 checked: set[str] | None = None) -> None:
    """Every section's checker (task, encoder, dataset) on a resolved config, then one build of the
    encoder on the meta device (its own checks; no memory, no weights), whose weights must fit the
    machine's memory (:func:`benchmark.model_size.check_fits`). A checker that raises
    anything but :class:`BenchError` is still a one-line error naming its plugin. ``checked``
    remembers the encoder configs already built, so each is built once per command."""
    for kind, cls, section in (("task", task_cls, "task"), ("encoder", encoder_cls, "encoder"),
                               ("dataset", dataset_cls, "data")):
        _checked(manager, kind, cls, lambda c=cls, s=section: c.check_config(cfg[s]))
    key = json.dumps([encoder_cls.name, cfg["encoder"]], sort_keys=True, default=str)
    if checked is None or key not in checked:
        _checked(manager, "encoder", encoder_cls, lambda: check_fits(
            f"encoder {encoder_cls.name!r}", count_parameters(encoder_cls, 2, cfg["encoder"]), 2))
        if checked is not None:
            checked.add(key)


def _checked(manager: Manager, kind: str, cls, check) -> None:
    try:
        check()
    except BenchError:
        raise
    except Exception as exc:
        plugin = manager.entry(kind, cls.name).plugin
        raise BenchError(f"{kind} {cls.name!r} (plugin {plugin!r}) could not check its settings: "
                         f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc


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
