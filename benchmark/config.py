"""Resolving a run's configuration from registered defaults and ``--set key=value`` overrides."""

from __future__ import annotations

import json
from typing import Any

from benchmark.errors import BenchError, unknown_name

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


def _check_data(data: dict[str, Any]) -> None:
    for key in DATA_DEFAULTS:
        value = data.get(key)
        if value is None and key == "max_points":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BenchError(f"data.{key}={value!r}: expected a whole number of at least 1"
                             f"{' (or null for no limit)' if key == 'max_points' else ''}")
