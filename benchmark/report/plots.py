"""The report's plots, as numbers for the ``plot`` macro of ``templates/plot.html.j2`` (which owns
the SVG markup): one plot per record curve name and task, one line with its 95% band per leaderboard
row and run, labelled with the row's name and the run's task variant (``stroke_vit_tiny · occlusion``,
``raster_cnn (bounded)``); a row keeps its colour across the plots of the same rows, a task variant
(and a row beyond the palette) takes the next dash style.

The record contract (``extra["curves"][NAME]``): ``x``, ``y``, ``lo``, ``hi`` (finite numbers, one
length, at least two), ``x_label``, ``y_label``, ``title``; optional ``caption`` (a sentence under
the plot), ``reference`` (``{"x", "y", "label"}``: a dashed grey line, e.g. a ROC's chance
diagonal) and ``control`` (``{"y", "lo", "hi", "label"}`` on the curve's ``x``: the run's control,
e.g. SLI's random-weights copy of the classifier, a thin dotted line with a faint band in the
run's colour). A plot takes its labels, caption and reference from its first line's curve. A curve
that breaks the contract is not plotted (one warning each); a malformed control is left out.

A registered task declares the curves its records carry (``Task.curves``, name -> title); where
none of a task's counted runs carries a declared curve and all of them are of an older task
version, :func:`absent` gives the plot's place a sentence saying so instead of a picture. A curve it
declares with a control line (``Task.curve_controls``) whose plotted runs lack it says so under the
plot (``records predate the control line``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from benchmark.report.leaderboard import version_key

#: Line colours, one per row of a plot (cycled).
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22")
#: Line styles: (SVG ``stroke-dasharray``, the legend swatch's CSS border style).
DASHES = (("", "solid"), ("6 3", "dashed"), ("2 2", "dotted"))
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 560, 300, 52, 12, 28, 44
_SERIES = ("x", "y", "lo", "hi")


def _finite(values: Any, keys: Iterable[str]) -> dict[str, list[float]] | None:
    """``{key: [float]}`` of equally long (2+) lists of finite numbers, else ``None``."""
    try:
        series = {k: [float(v) for v in values[k]] for k in keys}
    except (KeyError, TypeError, ValueError):
        return None
    n = len(next(iter(series.values())))
    if n < 2 or any(len(v) != n for v in series.values()) or not all(math.isfinite(v) for vs in series.values()
                                                                      for v in vs):
        return None
    return series


def curve(value: Any) -> dict[str, Any] | None:
    """A record curve that keeps the contract (module docstring), normalised; else ``None``."""
    if not isinstance(value, dict) or (series := _finite(value, _SERIES)) is None:
        return None
    reference = value.get("reference")
    if reference is not None:
        points = _finite(reference, ("x", "y")) if isinstance(reference, dict) else None
        if points is None:
            return None
        reference = {**points, "label": str(reference.get("label", ""))}
    control = value.get("control")
    if control is not None:
        points = _finite({**control, "x": series["x"]}, _SERIES) if isinstance(control, dict) else None
        control = None if points is None else {**points, "label": str(control.get("label", ""))}
    return {**series, **{k: str(value.get(k, "")) for k in ("x_label", "y_label", "title", "caption")},
            "reference": reference, "control": control}


def variant(record: dict[str, Any]) -> str:
    """The run's task variant values (``"bounded"``), ``""`` for a task without variants."""
    return ", ".join(str(v) for v in (record["task"].get("variant") or {}).values())


def collect(records: dict[str, dict[str, Any]], rows: list[tuple[str, list[str]]],
            warn: Callable[[str], None], controls: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """The plots of the curves of ``records``; ``rows``: per leaderboard row its name and run ids;
    ``controls``: per task the curves it declares with a control line (:func:`registered_controls`)."""
    found: dict[tuple[str, str], list[tuple[int, str, str, dict]]] = {}
    for i, (name, runs) in enumerate(rows):
        for run in runs:
            record = records[run]
            curves = (record.get("extra") or {}).get("curves") or {}
            for key, value in sorted(curves.items() if isinstance(curves, dict) else []):
                checked = curve(value)
                if checked is None:
                    warn(f"run {run}: curve {key!r} is not x/y/lo/hi lists of one length of finite numbers "
                         f"(with a reference of x/y lists, if any); not plotted")
                    continue
                found.setdefault((key, record["task"]["name"]), []).append((i, variant(record), name, checked))
    return [layout(key, task, lines, (controls or {}).get(task, {}).get(key))
            for (key, task), lines in sorted(found.items())]


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values from ``lo`` to ``hi``, about ``count`` steps."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def layout(name: str, task: str, lines: list[tuple[int, str, str, dict]], control: str | None = None
           ) -> dict[str, Any]:
    """One plot: its frame, ticks and lines in SVG coordinates (text, one decimal), its legend.
    ``lines``: (row position, task variant, row name, curve) each; ``control``: the label of the
    control line the task declares for this curve (``Task.curve_controls``), if any."""
    first = lines[0][3]
    reference = first["reference"]
    xs = [x for *_, c in lines for x in c["x"]] + (reference["x"] if reference else [])
    ys = [y for *_, c in lines for k in ("lo", "hi", "y") for y in c[k]] + (reference["y"] if reference else [])
    ys += [y for *_, c in lines if c.get("control") for k in ("lo", "hi", "y") for y in c["control"][k]]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if 0 <= y0 and y1 <= 1:
        y0, y1 = 0.0, 1.0
    elif y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (x - x0) / (x1 - x0)

    def py(y: float) -> float:
        return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (y - y0) / (y1 - y0)

    def points(x: list[float], y: list[float]) -> str:
        return " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x, y))

    positions = {i: k for k, i in enumerate(sorted({i for i, *_ in lines}))}
    variants = sorted({v for _, v, *_ in lines})
    drawn, controls, missing = [], [], []
    for i, var, label, c in lines:
        k = positions[i]
        dash, border = DASHES[(variants.index(var) + k // len(PALETTE)) % len(DASHES)]
        colour, label = PALETTE[k % len(PALETTE)], label + (f" ({var})" if var else "")
        drawn.append({"colour": colour, "dash": dash, "border": border, "label": label,
                      "points": points(c["x"], c["y"]), "band": points(c["x"] + c["x"][::-1], c["hi"] + c["lo"][::-1])})
        if c.get("control"):
            ctl = c["control"]
            controls.append({"colour": colour, "label": f"{label}: {ctl['label'] or control or 'control'}",
                             "points": points(c["x"], ctl["y"]),
                             "band": points(c["x"] + c["x"][::-1], ctl["hi"] + ctl["lo"][::-1])})
        elif control:
            missing.append(label)
    caption = first["caption"]
    if missing:
        caption = (f"{caption} " if caption else "") + (
            f"No {control} line for {', '.join(missing)}: the records predate the control line; re-run {task} "
            f"to draw it.")
    return {"title": first["title"] or f"{task}: {name}", "x_label": first["x_label"], "y_label": first["y_label"],
            "caption": caption, "lines": drawn, "controls": controls,
            "reference": {"points": points(reference["x"], reference["y"]), "label": reference["label"]}
            if reference else None,
            "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
            "bottom": HEIGHT - BOTTOM, "centre": f"{WIDTH / 2:.0f}", "x_label_at": f"{(LEFT + WIDTH - RIGHT) / 2:.0f}",
            "x_label_y": HEIGHT - 8, "y_label_at": f"{(TOP + HEIGHT - BOTTOM) / 2:.0f}", "y_tick_x": LEFT - 5,
            "x_tick_y": HEIGHT - BOTTOM + 15,
            "y_ticks": [{"at": f"{py(t):.1f}", "text_at": f"{py(t) + 4:.1f}", "label": f"{t:.3g}"} for t in ticks(y0, y1)],
            "x_ticks": [{"at": f"{px(t):.1f}", "label": f"{t:.4g}"} for t in ticks(x0, x1)]}


def registered_curves() -> dict[str, tuple[str, dict[str, str]]]:
    """Per registered task that declares curves (``Task.curves``): its version and ``{name: title}``."""
    from benchmark.plugins import get_manager

    return {name: (str(cls.version), dict(cls.curves)) for name, cls in get_manager().tasks.items() if cls.curves}


def registered_controls() -> dict[str, dict[str, str]]:
    """Per registered task that declares curves with a control line (``Task.curve_controls``):
    ``{curve name: the control's label}``."""
    from benchmark.plugins import get_manager

    return {name: dict(cls.curve_controls) for name, cls in get_manager().tasks.items() if cls.curve_controls}


def absent(records: dict[str, dict[str, Any]], declared: dict[str, tuple[str, dict[str, str]]]) -> list[dict]:
    """``{"title", "text"}`` for each declared curve that the counted runs of its task lack because
    they are all of an older task version than the registered one (module docstring)."""
    by_task: dict[str, list[dict]] = {}
    for record in records.values():
        by_task.setdefault(record["task"]["name"], []).append(record)
    out = []
    for task, runs in sorted(by_task.items()):
        if task not in declared:
            continue
        version, curves = declared[task]
        versions = sorted({str(r["task"]["version"]) for r in runs}, key=version_key)
        if not all(version_key(v) < version_key(version) for v in versions):
            continue
        for name, title in curves.items():
            if any(name in ((r.get("extra") or {}).get("curves") or {}) for r in runs):
                continue
            out.append({"title": title, "text": (
                f"Not in these records: the {task} runs here are of task version {', '.join(versions)}, older than "
                f"this picture; version {version} records it (extra.curves.{name}): re-run {task} to draw it.")})
    return out
