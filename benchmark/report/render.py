"""Rendering a :class:`benchmark.report.leaderboard.Leaderboard` as text: a rich table, Markdown, CSV, JSON.

Every renderer is a pure function of the leaderboard (no clock, no paths of this machine), so the
same records give the same bytes. Rounding happens only here, in each metric's declared format
(:mod:`benchmark.report.numbers`: proportions as percentages, ratios and differences as signed
numbers, three significant digits, the CI in the same format); CSV and JSON keep the recorded values. A missing cell is "—" (Markdown, table, HTML), an empty field
(CSV) or ``null`` (JSON), never 0.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pandas as pd

from benchmark.report.leaderboard import ColumnInfo, Leaderboard
from benchmark.report.numbers import count, interval, unit_suffix
from benchmark.report.significance import ALPHA

MISSING = "—"
LEGEND = ("↑ higher is better, ↓ lower is better; [low, high]: the task's confidence interval (95% for the "
          f"built-in tasks); {MISSING}: no run. Close calls: adjacent rows whose intervals overlap, tested on "
          f"the same test sketches (significant at the {ALPHA} level). Rows with seeds: mean over training seeds, "
          "the interval includes the variance between seeds.")
#: Marks a cell whose run's record says it must not be ranked (the reason is under the table).
NOT_RANKED = "‡"
FIELD_LABELS = {"encoder": "encoder", "plugin": "plugin", "dataset": "dataset", "setting": "setting",
                "seeds": "seeds", "parameters": "parameters", "run_id": "run", "task": "task"}


def arrow(col: ColumnInfo) -> str:
    return {True: "↑", False: "↓"}.get(col.higher_is_better, "")


def header(col: ColumnInfo) -> str:
    """Column header for people: label, ``(%)`` for percentages or the unit of a speed, arrow."""
    unit = unit_suffix(col.format, col.unit)
    return " ".join(p for p in (col.label, f"({unit})" if unit else "", arrow(col)) if p)


def cell_parts(board: Leaderboard, row: pd.Series, col: ColumnInfo) -> tuple[str, str]:
    """``(value, "[low, high]")`` in the column's format (:mod:`benchmark.report.numbers`);
    ``(MISSING, "")`` when missing; the interval ``""`` when the run gives none."""
    value = board.cell(row, col.key)
    if value is None:
        return MISSING, ""
    return interval(value, board.cell(row, col.key, "ci_low"), board.cell(row, col.key, "ci_high"), col.format)


def cell_text(board: Leaderboard, row: pd.Series, col: ColumnInfo) -> str:
    """``value [low, high]`` rounded for reading, or :data:`MISSING`."""
    text = " ".join(p for p in cell_parts(board, row, col) if p)
    if text != MISSING and board.unranked(board.cell(row, col.key, "run")):
        text += f" {NOT_RANKED}"
    return text


def field_text(row: pd.Series, name: str) -> str:
    value = row[name]
    if name == "parameters":
        return MISSING if pd.isna(value) else count(int(value))
    return str(value)


def text_rows(board: Leaderboard) -> tuple[list[str], list[list[str]], list[bool]]:
    """Headers, rows of cell text and which columns are numeric (right-aligned)."""
    fields = board.row_fields
    headers = [FIELD_LABELS.get(f, f) for f in fields] + [header(c) for c in board.columns]
    numeric = [f == "parameters" for f in fields] + [True] * len(board.columns)
    rows = [[field_text(row, f) for f in fields] + [cell_text(board, row, c) for c in board.columns]
            for _, row in board.frame.iterrows()]
    return headers, rows, numeric


def footer_lines(board: Leaderboard) -> dict[str, list[str]]:
    """The sections printed under the table: close calls, datasets, notes."""
    datasets = []
    for d in board.datasets:
        splits = ", ".join(f"{k} {v}" for k, v in d["splits"].items())
        kind = "SYNTHETIC (procedurally drawn, not human sketches)" if d["synthetic"] else "human sketches"
        datasets.append(f"{d['name']}: {kind}, {d['num_categories']} categories, splits {splits}, "
                        f"checksum {d['checksum'][:12]}")
    not_ranked = {}
    for run_id, record in board.runs.items():
        for reason in board.unranked(run_id):
            not_ranked.setdefault(f"{NOT_RANKED} {record['task']['name']}: {reason}", None)
    return {"Close calls": [c.sentence() for c in board.comparisons],
            f"Not ranked ({NOT_RANKED}: compared with nothing)": list(not_ranked), "Datasets": datasets,
            "Notes from the runs": list(board.notes)}


def render(board: Leaderboard, fmt: str, width: int | None = None) -> str:
    """The leaderboard as text in ``fmt`` (``table``, ``md``, ``csv``, ``json``)."""
    renderers = {"table": lambda b: table(b, width), "md": markdown, "csv": csv, "json": to_json}
    return renderers[fmt](board)


# -- markdown ---------------------------------------------------------------------------------
def _md(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            .replace("\r", " ").replace("\n", " "))


def markdown(board: Leaderboard) -> str:
    headers, rows, numeric = text_rows(board)
    lines = ["| " + " | ".join(_md(h) for h in headers) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    lines += ["", _md(LEGEND)]
    for title, items in footer_lines(board).items():
        if items:
            lines += ["", f"**{title}**", ""] + [f"- {_md(item)}" for item in items]
    return "\n".join(lines) + "\n"


# -- rich table -------------------------------------------------------------------------------
def table(board: Leaderboard, width: int | None = None, console=None) -> str:
    """A rich table; printed on ``console`` when given (returns ""), else rendered to plain text."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    headers, rows, numeric = text_rows(board)
    tbl = Table(box=box.SIMPLE_HEAD, pad_edge=False, highlight=False, show_edge=False)
    fields = len(board.row_fields)
    for i, (h, n) in enumerate(zip(headers, numeric)):
        # on a narrow terminal only the metric cells wrap (at the space before the interval)
        tbl.add_column(escape(h), justify="right" if n else "left", no_wrap=console is None or i < fields)
    for row in rows:
        tbl.add_row(*[escape(c) for c in row])
    buffer = None
    if console is None:
        buffer = io.StringIO()
        console = Console(file=buffer, width=width or 1000, color_system=None, force_terminal=False,
                          highlight=False, soft_wrap=True)
    console.print(tbl)
    console.print(escape(LEGEND), soft_wrap=True)
    for title, items in footer_lines(board).items():
        if items:
            console.print(f"\n{escape(title)}:", soft_wrap=True)
            for item in items:
                console.print(f"  - {escape(item)}", soft_wrap=True)
    if buffer is None:
        return ""
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


# -- csv --------------------------------------------------------------------------------------
def csv(board: Leaderboard) -> str:
    out = pd.DataFrame(index=board.frame.index)
    for f in board.row_fields:
        out[FIELD_LABELS.get(f, f)] = board.frame[f]
    for col in board.columns:
        name = " ".join(p for p in (col.label, f"({col.unit})" if col.unit else "", arrow(col)) if p)
        out[name] = board.frame[f"{col.key} value"]
        if board.frame[f"{col.key} ci_low"].notna().any():
            out[f"{col.label} CI low"] = board.frame[f"{col.key} ci_low"]
            out[f"{col.label} CI high"] = board.frame[f"{col.key} ci_high"]
    return out.to_csv(index=False, lineterminator="\n")


# -- json -------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def as_dict(board: Leaderboard) -> dict[str, Any]:
    """The leaderboard as plain JSON-able data (full precision)."""
    rows = []
    for _, row in board.frame.iterrows():
        item = {f: _plain(row[f]) for f in board.row_fields}
        item["metrics"] = {}
        for col in board.columns:
            value = board.cell(row, col.key)
            if value is None:
                item["metrics"][col.key] = None
                continue
            n = board.cell(row, col.key, "n")
            item["metrics"][col.key] = {"value": value, "ci_low": board.cell(row, col.key, "ci_low"),
                                        "ci_high": board.cell(row, col.key, "ci_high"),
                                        "n": None if n is None else int(n), "run_id": row[f"{col.key} run"],
                                        "seeds": int(board.cell(row, col.key, "seeds") or 1)}
        item["runs"] = sorted({row[f"{c.key} run"] for c in board.columns if board.cell(row, c.key, "run")})
        rows.append(item)
    return {
        "format": "sketchxai-bench leaderboard 1",
        "all_runs": board.show_all,
        "columns": [{"key": c.key, "task": c.task, "metric": c.metric, "label": c.label,
                     "higher_is_better": c.higher_is_better, "unit": c.unit, "description": c.description}
                    for c in board.columns],
        "rows": rows,
        "comparisons": [c.as_dict() for c in board.comparisons],
        "datasets": board.datasets,
        "notes": board.notes,
    }


def to_json(board: Leaderboard) -> str:
    return json.dumps(as_dict(board), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
