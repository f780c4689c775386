"""Settings by name: a run's configuration from registered defaults and ``--set key=value`` overrides."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import BenchError, close_names, unknown_name

SECTIONS = ("task", "encoder", "data")

#: Collate settings every dataset accepts (the data section of the config).
DATA_DEFAULTS: dict[str, Any] = {"max_strokes": 196, "max_points": None}


def parse_value(text: str) -> Any:
    """``--set`` values: JSON where it parses (numbers, booleans, null, lists), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(items: list[str]) -> list[tuple[str, Any]]:
    """``["task.epochs=3", "lr=1e-3"]`` -> ``[("task.epochs", 3), ("lr", 0.001)]``."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"--set {item!r}: expected key=value (e.g. --set task.epochs=3)")
        out.append((key.strip(), parse_value(value.strip())))
    return out


@dataclass
class Routed:
    """``--set`` overrides sorted by what they target (see :func:`route`)."""

    named: dict[str, dict[str, Any]] = field(default_factory=dict)  # task name -> {key: value}
    tasks: dict[str, Any] = field(default_factory=dict)  # every task of the command that has the key
    encoder: dict[str, Any] = field(default_factory=dict)  # every encoder of the command that has the key
    data: dict[str, Any] = field(default_factory=dict)

    def config(self, task: str, task_defaults: dict[str, Any], encoder_defaults: dict[str, Any],
               data_defaults: dict[str, Any], in_command: bool = True) -> dict[str, dict[str, Any]]:
        """The resolved ``{task, encoder, data}`` config of one run of ``task``. A task run on
        another's behalf (``in_command=False``: the classifier an SLI run trains first) takes only
        the settings that name it (``recognition.lr``), never ``task.*`` or bare keys."""
        generic = {k: v for k, v in self.tasks.items() if k in task_defaults} if in_command else {}
        config = {"task": {**task_defaults, **generic, **self.named.get(task, {})},
                  "encoder": {**encoder_defaults, **{k: v for k, v in self.encoder.items() if k in encoder_defaults}},
                  "data": {**data_defaults, **{k: v for k, v in self.data.items() if k in data_defaults}}}
        _check_data(config["data"])
        return config


def route(overrides: list[tuple[str, Any]], command_tasks: dict[str, dict[str, Any]],
          all_tasks: dict[str, dict[str, Any]], encoders: dict[str, dict[str, Any]],
          data_defaults: dict[str, Any]) -> Routed:
    """Sort ``--set`` overrides by target; unknown or ambiguous keys are one-line errors.

    - ``NAME.key`` with a registered task ``NAME`` sets that task only (also when it runs on
      another task's behalf, e.g. ``recognition.epochs`` for the classifier an SLI run trains);
    - ``task.key``: every task of the command that has ``key``; ``encoder.key``: every encoder of
      the command that has it; ``data.key``: the dataset;
    - a bare ``key`` goes where ``task.key``, ``encoder.key`` or ``data.key`` would, and must be
      a setting of exactly one of the three (else write the section).

    ``command_tasks`` and ``encoders`` map the command's names to their defaults, ``all_tasks``
    every registered task's defaults.
    """
    routed = Routed()
    sections = {"task": {k for d in command_tasks.values() for k in d},
                "encoder": {k for d in encoders.values() for k in d}, "data": set(data_defaults)}
    targets = {"task": routed.tasks, "encoder": routed.encoder, "data": routed.data}
    for key, value in overrides:
        section, _, name = key.partition(".")
        if name and section in SECTIONS:
            if name not in sections[section]:
                owners = ", ".join(sorted(command_tasks if section == "task" else encoders)) or "none"
                raise unknown_name(f"{section} setting", name, sections[section],
                                   hint=f"(for {section}s {owners}: {', '.join(sorted(sections[section])) or 'none'})"
                                   if section != "data" else f"(data settings: {', '.join(sorted(sections[section]))})")
            targets[section][name] = value
        elif name and section in all_tasks:
            if name not in all_tasks[section]:
                raise unknown_name(f"{section} setting", name, all_tasks[section],
                                   hint=f"(settings of task {section}: {', '.join(sorted(all_tasks[section])) or 'none'})")
            routed.named.setdefault(section, {})[name] = value
        elif name:
            raise unknown_name("settings section", section, [*SECTIONS, *all_tasks],
                               hint=f"(in --set {key}=...: a section is task, encoder, data or a task name)")
        else:
            owners = [s for s in SECTIONS if key in sections[s]]
            if not owners:
                known = [f"{s}.{k}" for s in SECTIONS for k in sections[s]] + [k for s in SECTIONS for k in sections[s]]
                raise unknown_name("setting", key, known + [f"{t}.{k}" for t, d in all_tasks.items() for k in d])
            if len(owners) > 1:
                raise BenchError(f"setting {key!r} is a setting of the {' and the '.join(owners)}; write "
                                 f"{' or '.join(f'{s}.{key}' for s in owners)}")
            targets[owners[0]][key] = value
    return routed


def check_like(key: str, value: Any, default: Any) -> Any:
    """``value`` of setting ``key`` if it has the type of ``default`` (a whole number where the
    default is an int, any number where it is a float, a boolean, text, a list or an object;
    anything where the default is ``None``), else a one-line error; whole floats become ints."""
    if default is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise BenchError(f"{key}={_as_typed(value)}: expected true or false")
        return value
    if isinstance(default, int):
        return check_number(key, value, whole=True)
    if isinstance(default, float):
        return check_number(key, value)
    for typ, words in ((str, "text"), (list, "a list"), (dict, "an object")):
        if isinstance(default, typ) and not isinstance(value, typ):
            raise BenchError(f"{key}={_as_typed(value)}: expected {words}")
    return value


def check_number(key: str, value: Any, *, whole: bool = False, least: float | None = None,
                 above: float | None = None, below: float | None = None, most: float | None = None,
                 nullable: bool = False, null_means: str = "") -> Any:
    """``value`` of setting ``key`` (e.g. ``"task.epochs"``) if it is a number in range, else a
    one-line :class:`BenchError` saying what is expected. Booleans are not numbers; with ``whole``
    a whole float (``3.0``) is returned as an ``int``; with ``nullable`` ``None`` passes."""
    if value is None and nullable:
        return None
    ok = isinstance(value, int) and not isinstance(value, bool)
    ok = ok or (isinstance(value, float) and math.isfinite(value) and (value.is_integer() or not whole))
    ok = ok and ((least is None or value >= least) and (above is None or value > above)
                 and (below is None or value < below) and (most is None or value <= most))
    if not ok:
        bounds = [f"{word} {bound:g}" for word, bound in (("of at least", least), ("above", above),
                                                            ("below", below), ("at most", most)) if bound is not None]
        expected = f"{'a whole number' if whole else 'a number'} {' and '.join(bounds)}".strip()
        if nullable:
            expected += f", or null{f' ({null_means})' if null_means else ''}"
        raise BenchError(f"{key}={_as_typed(value)}: expected {expected}")
    return int(value) if whole else value


def check_choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a one-line error listing them."""
    if value not in choices:
        close = close_names(str(value), choices, n=1)
        raise BenchError(f"{key}={_as_typed(value)}: expected one of {', '.join(choices)}"
                         f"{f'; did you mean: {close[0]}?' if close else ''}")
    return value


def _as_typed(value: Any) -> str:
    """A setting's value as the user would write it after ``--set key=`` (JSON: null, true, 2.5)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _check_data(data: dict[str, Any]) -> None:
    for key in DATA_DEFAULTS:
        data[key] = check_number(f"data.{key}", data.get(key), whole=True, least=1, nullable=key == "max_points",
                                 null_means="no limit")
