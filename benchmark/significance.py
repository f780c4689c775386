"""Paired significance tests for close leaderboard rows, on the per-sketch outputs of two runs.

Only rows of one dataset are compared, so both runs used the same dataset checksum (one dataset
name with several checksums makes several datasets, see :mod:`benchmark.leaderboard`). The runs'
per-sketch JSONL files (the artifact named in :data:`benchmark.leaderboard.PAIRED_TESTS`) are
joined on ``index`` (and ``key_id`` where present) and must cover the same sketches (with the same
transfer targets). Boolean outcomes (top-1 correctness, correctness after SLI, SLI transfer success)
get McNemar's exact test: a two-sided binomial test (``scipy.stats.binomtest``, p = 1/2) on the
discordant pairs. Numbers (SLI fidelity) get the Wilcoxon signed-rank test
(``scipy.stats.wilcoxon``, pairs with a missing value dropped, zero differences dropped).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.leaderboard import ALPHA, PAIRED_TESTS, Leaderboard, PairedTest, row_label

TEST_NAMES = {"mcnemar": "McNemar exact test", "wilcoxon": "Wilcoxon signed-rank test"}


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
        verdict = "significant" if self.significant else "not significant"
        return head + f"{TEST_NAMES[self.test]} on {detail}, p = {self.p_value:.3g}: {verdict} at α = {ALPHA}"


class Untestable(Exception):
    """Why two runs cannot be compared sketch by sketch."""


def close_calls(board: Leaderboard) -> list[Comparison]:
    """A comparison for each adjacent pair (best first) of each tested column with overlapping CIs."""
    frame = board.frame
    out = []
    for col in board.columns:
        spec = PAIRED_TESTS.get(col.key)
        if spec is None:
            continue
        value, low, high = (f"{col.key} {s}" for s in ("value", "ci_low", "ci_high"))
        for dataset in sorted(frame["dataset"].unique()):
            rows = frame[(frame["dataset"] == dataset) & frame[value].notna()]
            sign = -1.0 if col.higher_is_better is not False else 1.0
            rows = rows.assign(_order=rows[value] * sign).sort_values("_order", kind="stable")
            for (_, a), (_, b) in pairwise(rows.iterrows()):
                if any(math.isnan(x) for x in (a[low], a[high], b[low], b[high])):
                    continue
                if a[low] > b[high] or b[low] > a[high]:
                    continue
                out.append(compare(board, col.key, col.label, spec, a, b))
    return out


def compare(board: Leaderboard, key: str, label: str, spec: PairedTest, upper, lower) -> Comparison:
    ra, rb = board.runs[upper[f"{key} run"]], board.runs[lower[f"{key} run"]]
    base = Comparison(key, label, str(upper["dataset"]), row_label(upper), row_label(lower), ra["run_id"],
                      rb["run_id"])
    try:
        a, b = outcomes(ra, spec), outcomes(rb, spec)
        if set(a) != set(b):
            raise Untestable("the runs scored different sketches")
        keys = sorted(a, key=lambda k: (k[0], str(k[1])))
        if any(a[k][1] != b[k][1] for k in keys):
            raise Untestable(f"the runs differ in {', '.join(spec.same)} for some sketches")
        x, y = [a[k][0] for k in keys], [b[k][0] for k in keys]
        result = mcnemar(x, y) if spec.test == "mcnemar" else wilcoxon(x, y)
    except Untestable as exc:
        return Comparison(**{**asdict(base), "reason": str(exc)})
    return Comparison(**{**asdict(base), "test": spec.test, **result})


def outcomes(record: dict[str, Any], spec: PairedTest) -> dict[tuple[int, str | None], tuple[Any, tuple]]:
    """``{(index, key_id): (outcome, values of spec.same)}`` from a run's per-sketch JSONL artifact."""
    rel = record["artifacts"].get(spec.artifact)
    if not rel:
        raise Untestable(f"run {record['run_id']} has no {spec.artifact!r} artifact")
    base = Path(record["_path"]).parent.resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise Untestable(f"run {record['run_id']}: artifact {rel!r} points outside its records folder")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise Untestable(f"cannot read {rel} ({exc.__class__.__name__})") from None
    out = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key = (int(row["index"]), None if row.get("key_id") is None else str(row["key_id"]))
            out[key] = (row[spec.field], tuple(row[f] for f in spec.same))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            needed = ", ".join(repr(f) for f in ("index", spec.field, *spec.same))
            raise Untestable(f"{rel} line {number} lacks one of {needed}") from None
    if not out:
        raise Untestable(f"{rel} is empty")
    return out


def mcnemar(x: list, y: list) -> dict[str, Any]:
    """Exact McNemar test on paired booleans: binomial test of the discordant pairs."""
    from scipy.stats import binomtest

    a, b = np.asarray(x, dtype=bool), np.asarray(y, dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return {"n": len(a), "discordant": (only_a, only_b), "statistic": float(min(only_a, only_b)),
            "p_value": float(p)}


def wilcoxon(x: list, y: list) -> dict[str, Any]:
    """Wilcoxon signed-rank test on paired numbers (missing values drop the pair)."""
    from scipy.stats import wilcoxon as scipy_wilcoxon

    a = np.asarray([np.nan if v is None else v for v in x], dtype=np.float64)
    b = np.asarray([np.nan if v is None else v for v in y], dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if not len(a):
        raise Untestable("no sketch has a value in both runs")
    if np.all(a == b):
        return {"n": len(a), "statistic": 0.0, "p_value": 1.0}
    res = scipy_wilcoxon(a, b)
    return {"n": len(a), "statistic": float(res.statistic), "p_value": float(res.pvalue)}
