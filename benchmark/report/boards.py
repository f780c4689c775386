"""Boards: one small table per question, built from the declarations the records carry.

A reader comes with one question at a time (which encoder recognises best, which inverts best
and beats its control, which explainer is faithful), so a leaderboard is split into **boards**:
one per task *family* (``Task.family``), *variant* (``Task.variant_keys``, e.g. the SLI preset)
and dataset. The core names no task: the family, the board's question (``Task.question``), its
row facts (``Task.row_facts``, e.g. parameters) and its headline columns (``Metric.headline``)
all come from the records.

* **Columns**: the family's headline metrics, a control (``Metric.control_of``) right after the
  metric it controls, speeds last. Everything else is in the CSV and JSON and one click away in
  the HTML report.
* **Rows**: the leaderboard rows of the dataset with a value in any of the family's columns,
  best first by the board's first column (missing last).
* **Identity**: the encoder; the row keys (e.g. the explainer) and the setting where they differ
  between rows; the declared row facts.
* **Significance** (:func:`benchmark.report.significance.board_tests`): per column, the best row
  and the rows not significantly different from it (Holm-corrected over the board's tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Columns are benchmark.report.leaderboard.ColumnInfo and the board a Leaderboard; they are not imported
# (annotated Any): leaderboard.build makes the boards, and this module must not import it back.
ColumnInfo = Any
Leaderboard = Any


@dataclass
class Board:
    family: str
    variant: str
    dataset: str
    question: str
    columns: list[ColumnInfo]
    #: Every column of the family and variant (the board shows ``columns``; the rest is folded).
    more: list[ColumnInfo]
    #: Positions in ``Leaderboard.frame``, in board order.
    rows: list[int]
    #: Identity fields shown before the metrics (``encoder``, row keys, ``setting``, row facts).
    fields: list[str]
    #: ``{(row position, column key): "best" | "tied"}``.
    marks: dict[tuple[int, str], str] = field(default_factory=dict)
    #: The paired tests of this board (:class:`benchmark.report.significance.Comparison`).
    comparisons: list[Any] = field(default_factory=list)

    @property
    def title(self) -> str:
        text = self.family + (f" ({self.variant})" if self.variant else "")
        return f"{text} · {self.dataset}"

    @property
    def anchor(self) -> str:
        import re

        return "board-" + re.sub(r"[^A-Za-z0-9]+", "-", self.title).strip("-").lower()


def _ordered(columns: list[ColumnInfo]) -> list[ColumnInfo]:
    """Declaration order, each control right after the metric it controls, speeds last."""
    scores = [c for c in columns if c.kind != "speed"]
    controls = {c.key: c for c in scores if c.control_of and any(
        o.task == c.task and o.metric == c.control_of for o in scores)}
    out: list[ColumnInfo] = []
    for col in scores:
        if col.key in controls:
            continue
        out.append(col)
        out += [c for c in controls.values() if c.task == col.task and c.control_of == col.metric]
    return out + [c for c in columns if c.kind == "speed"]


def make_boards(board: Leaderboard, all_metrics: bool = False) -> list[Board]:
    """The boards of a leaderboard, ordered by their first task's order, then family, variant, dataset."""
    frame = board.frame
    groups: dict[tuple[str, str], list[ColumnInfo]] = {}
    for col in board.columns:
        groups.setdefault((col.family, col.variant), []).append(col)
    out = []
    for (family, variant), columns in groups.items():
        shown = _ordered([c for c in columns if c.headline or all_metrics])
        more = [c for c in _ordered(columns) if c not in shown]
        for dataset in sorted(frame["dataset"].unique()):
            rows = [i for i in range(len(frame)) if frame["dataset"].iat[i] == dataset
                    and any(board.cell(frame.iloc[i], c.key) is not None for c in columns)]
            if not rows:
                continue
            rows = _sort_rows(board, rows, shown or columns)
            fields = ["encoder"]
            for key in board.row_keys:
                if any(str(frame[key].iat[i]) for i in rows):
                    fields.append(key)
            if "setting" in frame and len({frame["setting"].iat[i] for i in rows}) > 1:
                fields.append("setting")
            if "seeds" in frame and any(frame["seeds"].iat[i] for i in rows):
                fields.append("seeds")
            facts = sorted({f for c in columns for f in c.row_facts if f in frame})
            fields += [f for f in facts if f not in fields]
            if board.show_all:
                fields += ["run_id", "task"]
            question = next((c.question for c in sorted(columns, key=lambda c: c.order) if c.question), "")
            out.append(Board(family, variant, str(dataset), question, shown, more, rows, fields))
    order = {id(b): min(c.order for c in b.columns + b.more) for b in out}
    return sorted(out, key=lambda b: (order[id(b)], b.family, b.variant, b.dataset))


def _sort_rows(board: Leaderboard, rows: list[int], columns: list[ColumnInfo]) -> list[int]:
    """Best first by the first ranked column (missing last), then the leaderboard's own order."""
    primary = next((c for c in columns if c.higher_is_better is not None and not c.control_of), None)
    if primary is None:
        return rows
    sign = -1.0 if primary.higher_is_better else 1.0

    def key(i: int):
        value = board.cell(board.frame.iloc[i], primary.key)
        return (value is None, 0.0 if value is None else sign * value, i)

    return sorted(rows, key=key)
