"""Paired significance tests for close leaderboard rows, on the per-sketch rows of two runs.

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
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.contracts import field_names
from benchmark.metrics import columns, finite_rows, statistic
from benchmark.records import PER_SKETCH_ARTIFACT

ALPHA = 0.05
PERMUTATIONS = 10_000
_CHUNK_CELLS = 4_000_000
TEST_NAMES = {"mcnemar": "McNemar exact test", "permutation": "paired permutation test"}


@dataclass(frozen=True)
class Comparison:
    """Two adjacent rows of one metric column whose confidence intervals overlap."""

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

    @property
    def significant(self) -> bool | None:
        return None if self.p_value is None else self.p_value < ALPHA

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
            detail += f", difference {self.statistic:.4g}"
        verdict = "significant" if self.significant else "not significant"
        return head + f"{TEST_NAMES[self.test]} on {detail}, p = {self.p_value:.3g}: {verdict} at α = {ALPHA}"


class Untestable(Exception):
    """Why two runs cannot be compared sketch by sketch."""


def close_calls(board) -> list[Comparison]:
    """A comparison for each adjacent pair (best first) of each tested column with overlapping
    CIs. ``board`` is a :class:`benchmark.report.leaderboard.Leaderboard` (its frame carries a
    ``label`` per row)."""
    frame = board.frame
    out = []
    for col in board.columns:
        if not col.test or not col.fields or col.higher_is_better is None:
            continue
        value, low, high = (f"{col.key} {s}" for s in ("value", "ci_low", "ci_high"))
        for dataset in sorted(frame["dataset"].unique()):
            rows = frame[(frame["dataset"] == dataset) & frame[value].notna()]
            sign = -1.0 if col.higher_is_better else 1.0
            rows = rows.assign(_order=rows[value] * sign).sort_values("_order", kind="stable")
            for (_, a), (_, b) in pairwise(rows.iterrows()):
                if board.unranked(a[f"{col.key} run"]) or board.unranked(b[f"{col.key} run"]):
                    continue  # a run its record says not to rank is compared with nothing
                if any(math.isnan(x) for x in (a[low], a[high], b[low], b[high])):
                    continue
                if a[low] > b[high] or b[low] > a[high]:
                    continue
                if max(a[f"{col.key} seeds"], b[f"{col.key} seeds"]) > 1:
                    out.append(Comparison(col.key, col.label, str(a["dataset"]), a["label"], b["label"],
                                          a[f"{col.key} run"], b[f"{col.key} run"],
                                          reason="aggregated over training seeds: compare the intervals"))
                    continue
                out.append(compare(board.runs[a[f"{col.key} run"]], board.runs[b[f"{col.key} run"]], col,
                                   str(a["dataset"]), a["label"], b["label"]))
    return out


def compare(ra: dict[str, Any], rb: dict[str, Any], col, dataset: str, upper: str, lower: str) -> Comparison:
    """Test run ``ra`` against run ``rb`` on column ``col`` (a ``ColumnInfo``)."""
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
            result = permutation(col.aggregation, columns(rows_a, col.fields), columns(rows_b, col.fields))
    except Untestable as exc:
        return Comparison(**{**asdict(base), "reason": str(exc)})
    return Comparison(**{**asdict(base), "test": col.test, **result})


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
