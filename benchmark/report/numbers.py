"""Numbers for people: one format per kind of number (a metric's declared ``format``,
:data:`benchmark.contracts.FORMATS`), three significant digits, the CI in the same format.

* ``percent``: a proportion in [0, 1] times 100 (the header says ``%``): ``98.0 [96.5, 98.9]``,
  ``100.0 [99.4, 100.0]``;
* ``signed``: a ratio or a difference, never a percentage, with its sign; the value and its bounds
  share one number of decimals, the one that gives the largest of them three significant digits:
  ``+0.037 [−0.125, +0.047]``, ``+3.09 [+2.64, +3.60]``;
* ``number``: the same without a ``+``: ``0.755 [0.700, 0.805]``;
* ``speed``: the same, thousands separated: ``1,251``;
* ``flag``: ``yes`` (1) or ``no`` (0).

Negative numbers take the minus sign (U+2212). CSV and JSON keep the recorded values.
"""

from __future__ import annotations

import math

MINUS = "\u2212"
DIGITS = 3
MAX_DECIMALS = 6


def decimals(*values: float | None) -> int:
    """Decimals that give the largest finite, non-zero magnitude among ``values`` three significant digits."""
    sizes = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not sizes:
        return 0
    return min(MAX_DECIMALS, max(0, DIGITS - 1 - math.floor(math.log10(max(sizes)))))


def _one(value: float, places: int, fmt: str) -> str:
    if fmt == "percent":
        value *= 100
    text = f"{abs(value):,.{places}f}" if fmt == "speed" else f"{abs(value):.{places}f}"
    if float(text.replace(",", "")) == 0:
        return text
    if value < 0:
        return MINUS + text
    return ("+" + text) if fmt == "signed" else text


def number(value: float, fmt: str) -> str:
    """One number alone (no interval)."""
    return interval(value, None, None, fmt)[0]


def interval(value: float, low: float | None, high: float | None, fmt: str) -> tuple[str, str]:
    """``(value text, interval text)``; the interval text is ``""`` without bounds, else ``[low, high]``."""
    if fmt == "flag":
        return ("yes" if value >= 0.5 else "no"), ""
    scale = 100 if fmt == "percent" else 1
    bounds = low is not None and high is not None
    places = decimals(*(v * scale for v in ((value, low, high) if bounds else (value,))))
    if fmt == "percent":  # 100% is printed like 99.9%: 100.0 [99.4, 100.0]
        places = max(places, decimals(*(min(abs(v) * scale, 99.9) for v in (value, low, high) if v is not None)))
    text = _one(value, places, fmt)
    if not bounds:
        return text, ""
    return text, f"[{_one(low, places, fmt)}, {_one(high, places, fmt)}]"


def unit_suffix(fmt: str, unit: str) -> str:
    """What a column header adds to the label: ``%`` for percentages, the unit of a speed."""
    if fmt == "percent":
        return "%"
    if fmt == "speed":
        return unit
    return ""


def count(value: float | int) -> str:
    """A count (e.g. parameters) with three significant digits: ``5.68 M``, ``796 k``, ``42``."""
    value = float(value)
    for size, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.{decimals(scaled)}f}{suffix}"
    return f"{value:.0f}"
