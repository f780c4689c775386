"""Paired significance tests of a board's rows against its best row, on the per-sketch rows of two
runs, Holm-corrected over the tests of the board (:func:`board_tests`).

Each metric's record declaration names its test (:class:`benchmark.Metric`); the test compares
the two runs on exactly the statistic the leaderboard ranks:

* ``mcnemar`` (proportions of a boolean field): McNemar's exact test, a two-sided binomial test
  (``scipy.stats.binomtest``, p = 1/2) on the discordant pairs;
* ``permutation`` (means and ratios of means): a paired permutation test of the difference of
  the declared statistic (:func:`benchmark.metrics.statistic`) between the runs. Under the null
  hypothesis the two runs' outcomes on a sketch are exchangeable, so each of
  :data:`PERMUTATIONS` resamples swaps them sketch by sketch with probability 1/2 (seeded);
  p = (1 + #{|permuted difference| >= |observed|}) / (1 + resamples).

Only rows of one dataset are compared, so both runs used the same dataset checksum. The runs'
per-sketch files (artifact ``per_sketch``) are joined on ``index`` and ``key_id``, must cover the
same sketches and agree on the declaration's ``same`` fields; a sketch lacking a value in either
run is left out, as it is when the value is computed. The recomputed statistic of each run
equals its recorded value whenever both runs scored the same sketches.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.metrics import columns, finite_rows, statistic
from benchmark.records import PER_SKETCH_ARTIFACT

ALPHA = 0.05
PERMUTATIONS = 10_000
_CHUNK_CELLS = 4_000_000
TEST_NAMES = {"mcnemar": "McNemar exact test", "permutation": "paired permutation test"}


@dataclass(frozen=True)
class Comparison:
    """The best row of a board's column (``upper``) against another row (``lower``)."""

    metric: str
    label: str
    dataset: str
    upper: str
    lower: str
    upper_run: str
    lower_run: str
    test: str | None = None
    n: int | None = None
    discordant: tuple[int, int] | None = None
    statistic: float | None = None
    p_value: float | None = None
    reason: str | None = None
    #: The board (title) and the Holm-adjusted p-value over that board's tests, and their number.
    board: str = ""
    p_holm: float | None = None
    tests: int | None = None

    @property
    def significant(self) -> bool | None:
        p = self.p_holm if self.p_holm is not None else self.p_value
        return None if p is None else p < ALPHA

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["discordant"] = list(self.discordant) if self.discordant else None
        out["alpha"] = ALPHA
        out["significant"] = self.significant
        return out

    def sentence(self) -> str:
        """One line for people (numbers rounded here)."""
        head = f"{self.label} on {self.dataset}: {self.upper} vs {self.lower}: "
        if self.p_value is None:
            return head + f"not tested ({self.reason})"
        detail = f"{self.n} paired sketches"
        if self.discordant is not None:
            detail += f", discordant {self.discordant[0]} vs {self.discordant[1]}"
        else:
            detail += f", difference {self.statistic:.3g}"
        holm = f", Holm-adjusted {self.p_holm:.3g} ({self.tests} test{'s' if self.tests != 1 else ''} on the board)" if self.p_holm is not None else ""
        verdict = "significant" if self.significant else "not significant"
        return head + f"{TEST_NAMES[self.test]} on {detail}, p = {self.p_value:.3g}{holm}: {verdict} at α = {ALPHA}"


class Untestable(Exception):
    """Why two runs cannot be compared sketch by sketch."""


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): the ``k``-th smallest is
    ``max over j <= k of min(1, (m - j + 1) p_(j))``."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def ranked(col) -> bool:
    """Whether a board ranks its rows by ``col`` (a tested, directed metric that is not a control)."""
    return bool(col.test and col.fields and col.higher_is_better is not None and not col.control_of)


def board_tests(board) -> list[Comparison]:
    """For each board (:mod:`benchmark.report.boards`) and ranked column: the best row against
    every other row with a value, on the same test sketches; Holm's correction over all tests of
    the board. Marks each board's ``marks``: ``"best"``, and ``"tied"`` for rows whose difference
    from the best is not significant after the correction (a row that could not be tested is not
    marked). ``board`` is a :class:`benchmark.report.leaderboard.Leaderboard`."""
    frame = board.frame
    out = []
    for b in board.boards:
        found: list[tuple[int, str, Comparison]] = []
        for col in b.columns:
            if not ranked(col):
                continue
            value = f"{col.key} value"
            # a run its record says not to rank (an invalid set, a classifier at chance) is compared with nothing
            rows = [i for i in b.rows if frame[value].iat[i] == frame[value].iat[i]
                    and not board.unranked(frame[f"{col.key} run"].iat[i])]
            sign = -1.0 if col.higher_is_better else 1.0
            rows = sorted(rows, key=lambda i: (sign * frame[value].iat[i], b.rows.index(i)))
            if len(rows) < 2:  # a row alone is best of nothing
                continue
            best = frame.iloc[rows[0]]
            b.marks[(rows[0], col.key)] = "best"
            for i in rows[1:]:
                other = frame.iloc[i]
                if max(best[f"{col.key} seeds"], other[f"{col.key} seeds"]) > 1:
                    cmp = Comparison(col.key, col.short or col.label, str(best["dataset"]), best["label"],
                                     other["label"], best[f"{col.key} run"], other[f"{col.key} run"],
                                     reason="aggregated over training seeds: compare the intervals")
                else:
                    cmp = compare(board.runs[best[f"{col.key} run"]], board.runs[other[f"{col.key} run"]], col,
                                  str(best["dataset"]), best["label"], other["label"])
                    cmp = replace(cmp, label=col.short or col.label)
                found.append((i, col.key, cmp))
        tested = [k for k, (_, _, c) in enumerate(found) if c.p_value is not None]
        adjusted = dict(zip(tested, holm([found[k][2].p_value for k in tested])))
        for k, (i, key, cmp) in enumerate(found):
            if k in adjusted:
                cmp = replace(cmp, board=b.title, p_holm=adjusted[k], tests=len(tested))
                if not cmp.significant:
                    b.marks[(i, key)] = "tied"
            else:
                cmp = replace(cmp, board=b.title)
            b.comparisons.append(cmp)
            out.append(cmp)
    return out


def compare(ra: dict[str, Any], rb: dict[str, Any], col, dataset: str, upper: str, lower: str,
            resamples: int = PERMUTATIONS) -> Comparison:
    """Test run ``ra`` against run ``rb`` on column ``col`` (a ``ColumnInfo``); ``resamples``: of
    the permutation test."""
    base = Comparison(col.key, col.label, dataset, upper, lower, ra["run_id"], rb["run_id"])
    try:
        a, b = outcomes(ra, col), outcomes(rb, col)
        if set(a) != set(b):
            raise Untestable("the runs scored different sketches")
        keys = sorted(a, key=lambda k: (k[0], str(k[1])))
        if any(a[k][1] != b[k][1] for k in keys):
            raise Untestable(f"the runs differ in {', '.join(col.same)} for some sketches")
        rows_a, rows_b = [a[k][0] for k in keys], [b[k][0] for k in keys]
        if col.test == "mcnemar":
            result = mcnemar(*columns(rows_a, col.fields), *columns(rows_b, col.fields))
        else:
            result = permutation(col.aggregation, columns(rows_a, col.fields), columns(rows_b, col.fields), resamples)
    except Untestable as exc:
        return replace(base, reason=str(exc))
    return replace(base, test=col.test, **result)


def outcomes(record: dict[str, Any], col) -> dict[tuple[int, str | None], tuple[dict, tuple]]:
    """``{(index, key_id): (row, values of the column's same fields)}`` from a run's per-sketch file."""
    rel = record["artifacts"].get(PER_SKETCH_ARTIFACT)
    if not rel:
        raise Untestable(f"run {record['run_id']} has no {PER_SKETCH_ARTIFACT!r} artifact")
    base = Path(record["_path"]).parent.resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise Untestable(f"run {record['run_id']}: artifact {rel!r} points outside its records folder")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise Untestable(f"cannot read {rel} ({exc.__class__.__name__})") from None
    out = {}
    needed = ("index", *col.fields, *col.same)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or any(f not in row for f in needed):
                raise KeyError
            key = (int(row["index"]), None if row.get("key_id") is None else str(row["key_id"]))
            out[key] = (row, tuple(row[f] for f in col.same))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise Untestable(f"{rel} line {number} lacks one of {', '.join(map(repr, needed))}") from None
    if not out:
        raise Untestable(f"{rel} is empty")
    return out


def mcnemar(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Exact McNemar test on paired 0/1 outcomes (a sketch lacking one in either run left out)."""
    from scipy.stats import binomtest

    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.any():
        raise Untestable("no sketch has a value in both runs")
    a, b = x[keep] > 0.5, y[keep] > 0.5
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return {"n": int(keep.sum()), "discordant": (only_a, only_b), "statistic": float(min(only_a, only_b)),
            "p_value": float(p)}


def permutation(aggregation: str, a: list[np.ndarray], b: list[np.ndarray], resamples: int = PERMUTATIONS,
                seed: int = 0) -> dict[str, Any]:
    """Paired permutation test of ``statistic(a) - statistic(b)``, the declared aggregation, over
    the sketches where both runs have every field; ``statistic`` in the result is the observed
    difference."""
    keep = finite_rows([*a, *b])
    if not keep.any():
        raise Untestable("no sketch has a value in both runs")
    a, b = [c[keep] for c in a], [c[keep] for c in b]
    f = statistic(aggregation)
    observed = float(f(*a) - f(*b))
    if not math.isfinite(observed):
        raise Untestable("the statistic is not finite in one of the runs")
    if all(np.array_equal(x, y) for x, y in zip(a, b)):
        return {"n": int(keep.sum()), "statistic": observed, "p_value": 1.0}
    rng = np.random.default_rng(seed)
    n = int(keep.sum())
    extreme = 0
    chunk = max(1, _CHUNK_CELLS // n)  # memory stays bounded whatever the number of sketches
    for start in range(0, resamples, chunk):
        swap = rng.random((min(chunk, resamples - start), n)) < 0.5
        perm_a = [np.where(swap, y, x) for x, y in zip(a, b)]
        perm_b = [np.where(swap, x, y) for x, y in zip(a, b)]
        diffs = f(*perm_a, axis=-1) - f(*perm_b, axis=-1)
        # a relative tolerance keeps ties (e.g. the identity permutation) from rounding out of the count
        extreme += int((np.abs(diffs) >= abs(observed) * (1 - 1e-12)).sum())
    return {"n": n, "statistic": observed, "p_value": (1 + extreme) / (1 + resamples)}
