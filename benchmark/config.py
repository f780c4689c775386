"""Resolving a run's configuration from registered defaults and ``--set key=value`` overrides."""

from __future__ import annotations

import json
import math
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


def resolve(defaults: dict[str, dict[str, Any]], overrides: list[tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    """Apply overrides to a copy of ``{section: defaults}``.

    A key ``section.name`` targets one section; a bare ``name`` goes to the first section (task,
    encoder, data) that has it. Unknown keys are errors with the close names.
    """
    config = {s: dict(defaults.get(s, {})) for s in SECTIONS}
    for key, value in overrides:
        section, _, name = key.partition(".")
        if name and section in SECTIONS:
            if name not in config[section]:
                raise unknown_name(f"{section} setting", name, config[section],
                                   hint=f"(settings of this {section}: {', '.join(sorted(config[section])) or 'none'})")
            config[section][name] = value
            continue
        owners = [s for s in SECTIONS if key in config[s]]
        if not owners:
            known = [f"{s}.{k}" for s in SECTIONS for k in config[s]] + [k for s in SECTIONS for k in config[s]]
            raise unknown_name("setting", key, known)
        config[owners[0]][key] = value
    _check_data(config["data"])
    return config


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
