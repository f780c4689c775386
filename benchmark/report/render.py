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

from benchmark.report.boards import Board
from benchmark.report.leaderboard import ColumnInfo, Leaderboard
from benchmark.report.numbers import count, interval, unit_suffix
from benchmark.report.significance import ALPHA

MISSING = "—"
BEST, TIED = "★", "☆"
LEGEND = (f"One board per question. {BEST} best of its column; {TIED} not significantly different from the best "
          f"(paired on the same test sketches: McNemar's exact test for proportions, a paired permutation test of "
          f"the ranked statistic otherwise; Holm-corrected over the tests of the board, α = {ALPHA}); unmarked: "
          "significantly worse, or not testable. ↑ higher is better, ↓ lower is better; [low, high]: the task's "
          "confidence interval (95% for the built-in tasks), in the value's format; (%): a proportion as a "
          f"percentage, a signed number is a ratio or a difference; {MISSING}: no run. A control (the same "
          "architecture at random weights, the random explainer) sits beside the number it controls and is never "
          "ranked. Rows with seeds: mean over training seeds, the interval includes the variance between seeds. "
          "‡: a run its record says not to rank (why: under the boards).")
MORE = "Every other metric, with full precision, is in leaderboard.csv and leaderboard.json (--format csv|json)."
#: Marks a cell whose run's record says it must not be ranked (the reason is under the boards).
NOT_RANKED = "‡"
FIELD_LABELS = {"encoder": "encoder", "plugin": "plugin", "dataset": "dataset", "setting": "setting",
                "seeds": "seeds", "parameters": "parameters", "run_id": "run", "task": "task"}


def arrow(col: ColumnInfo) -> str:
    return {True: "↑", False: "↓"}.get(col.higher_is_better, "")


def header(col: ColumnInfo, short: bool = False) -> str:
    """Column header for people: label (``short``: the declared label, the board names the
    variant), ``(%)`` for percentages or the unit of a speed, arrow, and the validation ladder's
    verdict where the metric has one (``[ladder: holds]``)."""
    unit = unit_suffix(col.format, col.unit)
    label = (col.short or col.label) if short else col.label
    if short and col.control_of:
        label += " (control)" if "control" not in label else ""
    verdict = f"[ladder: {col.validation}]" if col.validation else ""
    return " ".join(p for p in (label, f"({unit})" if unit else "", arrow(col), verdict) if p)


def cell_parts(board: Leaderboard, row: pd.Series, col: ColumnInfo) -> tuple[str, str]:
    """``(value, "[low, high]")`` in the column's format (:mod:`benchmark.report.numbers`);
    ``(MISSING, "")`` when missing; the interval ``""`` when the run gives none."""
    value = board.cell(row, col.key)
    if value is None:
        return MISSING, ""
    return interval(value, board.cell(row, col.key, "ci_low"), board.cell(row, col.key, "ci_high"), col.format)


def cell_text(board: Leaderboard, row: pd.Series, col: ColumnInfo, marked: str = "") -> str:
    """``value[mark] [low, high][ ‡]`` rounded for reading (``marked``: the board's ★/☆), or :data:`MISSING`."""
    value, ci = cell_parts(board, row, col)
    if value == MISSING:
        return value
    unranked = board.unranked(board.cell(row, col.key, "run"))
    return " ".join(p for p in (value + marked, ci, NOT_RANKED if unranked else "") if p)


def mark(b: Board, position: int, col: ColumnInfo) -> str:
    """:data:`BEST`, :data:`TIED` or ``""`` for a board cell."""
    return {"best": BEST, "tied": TIED}.get(b.marks.get((position, col.key), ""), "")


def field_text(row: pd.Series, name: str) -> str:
    value = row[name]
    if name == "parameters":
        return MISSING if pd.isna(value) else count(int(value))
    return str(value)


def board_rows(board: Leaderboard, b: Board) -> tuple[list[str], list[list[str]], list[bool]]:
    """Headers, rows of cell text and which columns are numeric (right-aligned) of one board."""
    headers = [FIELD_LABELS.get(f, f) for f in b.fields] + [header(c, short=True) for c in b.columns]
    numeric = [f == "parameters" for f in b.fields] + [True] * len(b.columns)
    rows = []
    for i in b.rows:
        row = board.frame.iloc[i]
        rows.append([field_text(row, f) for f in b.fields] + [cell_text(board, row, c, mark(b, i, c)) for c in b.columns])
    return headers, rows, numeric


def test_summary(board: Leaderboard) -> str:
    tested = [c for c in board.comparisons if c.p_value is not None]
    untested = len(board.comparisons) - len(tested)
    boards = len({c.board for c in board.comparisons})
    text = (f"{len(tested)} paired test{'s' if len(tested) != 1 else ''} of the best row against the others on "
            f"{boards} board{'s' if boards != 1 else ''}, Holm-corrected per board")
    return text + (f"; {untested} pair{'s' if untested != 1 else ''} not testable" if untested else "")


def footer_lines(board: Leaderboard) -> dict[str, list[str]]:
    """The sections printed under the boards: paired tests, datasets, notes."""
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
    return {"Paired tests": [c.sentence() for c in board.comparisons],
            f"Not ranked ({NOT_RANKED}: compared with nothing)": list(not_ranked), "Datasets": datasets,
            "Notes from the runs": list(board.notes)}


def render(board: Leaderboard, fmt: str, width: int | None = None) -> str:
    """The leaderboard as text in ``fmt`` (``table``, ``md``, ``csv``, ``json``); ``table`` fits
    ``width`` columns (default: the terminal's, ``COLUMNS``; ``0``: no limit)."""
    renderers = {"table": lambda b: table(b, width), "md": markdown, "csv": csv, "json": to_json}
    return renderers[fmt](board)


# -- markdown ---------------------------------------------------------------------------------
def _md(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            .replace("\r", " ").replace("\n", " "))


def markdown(board: Leaderboard) -> str:
    lines: list[str] = []
    for b in board.boards:
        headers, rows, numeric = board_rows(board, b)
        lines += [f"### {_md(b.title)}", ""]
        if b.question:
            lines += [f"*{_md(b.question)}*", ""]
        lines += ["| " + " | ".join(_md(h) for h in headers) + " |",
                  "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
        if b.more:
            lines += ["", f"More columns: {_md(', '.join(c.short or c.label for c in b.more))}."]
        lines.append("")
    lines += [_md(LEGEND), "", _md(MORE)]
    sections = footer_lines(board)
    tests = sections.pop("Paired tests")
    if tests:
        lines += ["", f"<details><summary>{_md(test_summary(board))}</summary>", ""]
        lines += [f"- {_md(item)}" for item in tests] + ["", "</details>"]
    for title, items in sections.items():
        if items:
            lines += ["", f"**{title}**", ""] + [f"- {_md(item)}" for item in items]
    return "\n".join(lines) + "\n"


# -- rich table -------------------------------------------------------------------------------
def terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


def _rich_table(b: Board, cells: tuple[list[str], list[list[str]], list[bool]], keep: int, fold: bool):
    """Board ``b`` as a rich table of its ``cells`` (:func:`board_rows`), the first ``keep`` metric columns."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    headers, rows, numeric = cells
    cut = len(b.fields) + keep
    tbl = Table(box=box.SIMPLE_HEAD, pad_edge=False, highlight=False, show_edge=False, padding=(0, 1),
                title=escape(b.title), title_justify="left", caption=escape(b.question) if b.question else None,
                caption_justify="left")
    for i, (h, n) in enumerate(zip(headers[:cut], numeric[:cut])):
        tbl.add_column(escape(h), justify="right" if n else "left",
                       overflow="fold" if fold and i < len(b.fields) else "ellipsis")
    for row in rows:
        tbl.add_row(*[escape(c) for c in row[:cut]])
    return tbl


def table(board: Leaderboard, width: int | None = None, console=None) -> str:
    """One rich table per board, each fitting ``width`` (default: the terminal's; ``0``: no limit);
    a column that does not fit is dropped, with a line saying which and how to see it. Printed on
    ``console`` when given (returns ""), else rendered to plain text."""
    from rich.console import Console
    from rich.markup import escape

    buffer = None
    if console is None:
        width = terminal_width() if width is None else width
        buffer = io.StringIO()
        console = Console(file=buffer, width=width or 10_000, color_system=None, force_terminal=False,
                          highlight=False, soft_wrap=False)
    limit = console.width if (buffer is None or width) else None
    for b in board.boards:
        keep, cells = len(b.columns), board_rows(board, b)
        tbl = _rich_table(b, cells, keep, fold=False)
        if limit is not None:
            while console.measure(tbl).minimum > limit:
                fold = _rich_table(b, cells, keep, fold=True)
                if console.measure(fold).minimum <= limit or keep == 0:
                    tbl = fold
                    break
                keep -= 1
                tbl = _rich_table(b, cells, keep, fold=False)
        console.print(tbl)
        if keep < len(b.columns):
            dropped = ", ".join(header(c, short=True) for c in b.columns[keep:])
            console.print(escape(f"  (not shown, the terminal is too narrow: {dropped}; see them with --wide or "
                                 f"--format md)"), soft_wrap=True)
        console.print()
    console.print(escape(LEGEND), soft_wrap=limit is None)
    console.print(escape(MORE), soft_wrap=limit is None)
    if board.comparisons:
        console.print(escape(test_summary(board) + "; --format md (folded) or --format json lists them."),
                      soft_wrap=limit is None)
    sections = footer_lines(board)
    sections.pop("Paired tests")
    for title, items in sections.items():
        if items:
            console.print(f"\n{escape(title)}:", soft_wrap=limit is None)
            for item in items:
                console.print(f"  - {escape(item)}", soft_wrap=limit is None)
    if buffer is None:
        return ""
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


# -- csv --------------------------------------------------------------------------------------
def csv(board: Leaderboard) -> str:
    out: dict[str, Any] = {FIELD_LABELS.get(f, f): board.frame[f] for f in board.row_fields}
    for col in board.columns:
        name = " ".join(p for p in (col.label, f"({col.unit})" if col.unit else "", arrow(col)) if p)
        out[name] = board.frame[f"{col.key} value"]
        if board.frame[f"{col.key} ci_low"].notna().any():
            out[f"{col.label} CI low"] = board.frame[f"{col.key} ci_low"]
            out[f"{col.label} CI high"] = board.frame[f"{col.key} ci_high"]
    return pd.DataFrame(out, index=board.frame.index).to_csv(index=False, lineterminator="\n")


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
        "format": "sketchxai-bench leaderboard 2",
        "all_runs": board.show_all,
        "columns": [{"key": c.key, "task": c.task, "metric": c.metric, "label": c.label,
                     "higher_is_better": c.higher_is_better, "unit": c.unit, "description": c.description,
                     "format": c.format, "headline": c.headline, "family": c.family, "variant": c.variant,
                     "control_of": c.control_of or None}
                    for c in board.columns],
        "rows": rows,
        "boards": [{"title": b.title, "family": b.family, "variant": b.variant, "dataset": b.dataset,
                    "question": b.question, "columns": [c.key for c in b.columns], "rows": b.rows,
                    "fields": b.fields,
                    "marks": {f"{i} {key}": m for (i, key), m in sorted(b.marks.items())}}
                   for b in board.boards],
        "comparisons": [c.as_dict() for c in board.comparisons],
        "datasets": board.datasets,
        "notes": board.notes,
    }


def to_json(board: Leaderboard) -> str:
    return json.dumps(as_dict(board), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
