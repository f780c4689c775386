"""The HTML report: one self-contained folder with ``index.html`` and ``galleries/<run>/`` (copies of
the runs' pages and thumbnail strips), designed to be read at 1280 px without scrolling sideways.

The first screen holds the leaderboard (identity and score columns, each value over its interval;
speeds, plugins and parameters one click away in a ``<details>``) and, per leaderboard row, the
thumbnail strips of its runs (an artifact labelled ``thumbnails`` whose path ends ``.svg``). Then
one SVG plot (written here, no script) per record curve (``extra["curves"][NAME]`` with ``x``,
``y``, ``lo``, ``hi``, ``x_label``, ``y_label``, ``title``; one per curve name and task) with a line
and a 95% band per row; close calls, datasets and each note once (with how many runs gave it); and
per run its facts, versions and git revision as small tables, its metrics, its configuration (folded)
and a link to its gallery page.

Everything taken from a record (names, configs, notes, paths) is HTML-escaped. Gallery folders
(a run's *page* is any artifact whose path ends in ``index.html``, e.g. an SLI gallery
``<run_id>/gallery/index.html``, with the files beside it; one page a run) are copied only
from inside the records folder, without following symbolic links. The folder is built
beside ``--out`` and swapped in, and an existing ``--out`` is replaced only when it is empty or an
earlier report.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmark.errors import BenchError
from benchmark.report.leaderboard import Leaderboard
from benchmark.records import atomic_write_text
from benchmark.report.render import (FIELD_LABELS, LEGEND, MISSING, MORE, cell_text, field_text, footer_lines,
                                     header, mark, test_summary)

MARKER = "<!-- sketchxai-bench report -->"
PAGE = "index.html"
STYLE = """summary h3{display:inline;margin:0}section.run summary{margin:.4em 0;cursor:pointer}body{font-family:system-ui,sans-serif;margin:1.2em 1.5em;color:#222;max-width:1240px}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.2em 0 .4em}h3{font-size:1em;margin:.2em 0}
table{border-collapse:collapse;margin:.4em 0}th,td{padding:.25em .5em;border-bottom:1px solid #ddd;text-align:left;
vertical-align:top}th{font-weight:600;font-size:.9em}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.board{font-size:.92em}table.board th,table.board td{padding:.25em .35em}
table.board td.num{white-space:nowrap}.ci{display:block;font-size:.75em;color:#666;white-space:normal}th.task{text-align:center;
border-bottom:2px solid #bbb;font-size:.8em;color:#555}pre{background:#f6f6f6;padding:.8em;overflow:auto;
max-width:100%;font-size:.85em}.legend,.sub{color:#555;font-size:.85em}details{margin:.4em 0}
summary{cursor:pointer;color:#234}.strips{display:flex;flex-wrap:wrap;gap:.4em 1.2em}
.strip{margin:0}.strip figcaption{font-size:.8em;color:#444}.strip img{display:block;height:88px;width:auto;max-width:100%}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plot{margin:0}.plot svg{max-width:100%;height:auto}
.key{font-size:.8em;display:flex;flex-wrap:wrap;gap:.2em 1em}.swatch{display:inline-block;width:1.6em;height:.35em;
vertical-align:middle;margin-right:.3em}table.facts td,table.facts th{font-size:.85em;padding:.1em .5em}
.facts-row{display:flex;flex-wrap:wrap;gap:1.5em}section.run{border-top:1px solid #ccc;margin-top:1em}"""
#: Line colours of the plots, one per leaderboard row (cycled).
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22")
THUMBNAILS = "thumbnails"


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def write_report(board: Leaderboard, out_dir: str | Path, warn: Callable[[str], None] = lambda t: None) -> Path:
    """Write the report folder ``out_dir`` and return the path of its ``index.html``."""
    out = Path(out_dir)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or _is_report(out))):
        raise BenchError(f"--out {out}: exists and is not an empty folder or an earlier report; "
                         f"give a new folder for the HTML report")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        anchors = _anchors(board)
        missing: list[str] = []
        galleries = {rid: _copy_gallery(board.runs[rid], tmp / "galleries" / anchors[rid], anchors[rid], warn,
                                        missing) for rid in board.runs}
        strips = {rid: _copy_thumbnails(board.runs[rid], tmp / "galleries" / anchors[rid], anchors[rid], warn,
                                        missing) for rid in board.runs}
        if missing:
            warn(f"{len(missing)} picture file(s) named by the records are not in the results folder (galleries "
                 f"and thumbnails are not committed with results; re-run a task to make them), e.g. {missing[0]}; "
                 "the report says so in each run's section instead of linking them")
        atomic_write_text(tmp / "index.html", page(board, anchors, galleries, strips, warn))
        if out.exists():
            old = out.with_name(f".{out.name}.old-{secrets.token_hex(3)}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "index.html"


def _is_report(folder: Path) -> bool:
    try:
        with open(folder / "index.html", encoding="utf-8") as fh:
            return MARKER in fh.read(200)
    except OSError:
        return False


def _anchors(board: Leaderboard) -> dict[str, str]:
    """A safe, unique folder/anchor name per run id."""
    out: dict[str, str] = {}
    for rid in board.runs:
        name = re.sub(r"[^A-Za-z0-9_-]", "_", rid) or "run"
        while name in out.values():
            name += "_"
        out[rid] = name
    return out


def _copy_gallery(record: dict[str, Any], dest: Path, name: str, warn, missing: list[str]
                  ) -> dict[str, Any] | None:
    """Copy a run's page folder to ``dest``; returns its label, page and SVG count relative to the report
    (``{"label", "missing"}`` for a page that is not in the records folder: appended to ``missing``, and
    the run's section says so rather than link it)."""
    pages = sorted((label, rel) for label, rel in record["artifacts"].items() if str(rel).endswith(PAGE))
    if not pages:
        return None
    label, rel = pages[0]
    base = Path(record["_path"]).parent.resolve()
    index = (base / rel).resolve()
    if not index.is_relative_to(base):
        warn(f"run {record['run_id']}: page {rel!r} is outside the records folder; not copied")
        return None
    if not index.is_file():
        missing.append(str(rel))
        return {"label": label, "missing": str(rel)}
    src = index.parent
    copied = []
    for folder, dirs, files in os.walk(src, followlinks=False):
        dirs.sort()
        for file in sorted(files):
            path = Path(folder) / file
            if path.is_symlink() or not path.is_file():
                continue
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            copied.append(path.relative_to(src).as_posix())
    return {"label": label, "index": f"galleries/{name}/{index.relative_to(src).as_posix()}",
            "pictures": sum(1 for p in copied if p.lower().endswith(".svg"))}


def _copy_thumbnails(record: dict[str, Any], dest: Path, name: str, warn, missing: list[str]) -> str | None:
    """Copy a run's ``thumbnails`` strip (an ``.svg`` inside the records folder, no link) to ``dest``;
    returns its path relative to the report (one not in the records folder is appended to ``missing``)."""
    rel = record["artifacts"].get(THUMBNAILS)
    if not rel or not str(rel).lower().endswith(".svg"):
        return None
    base = Path(record["_path"]).parent.resolve()
    path = base / rel
    if path.is_symlink() or not path.resolve().is_relative_to(base):
        warn(f"run {record['run_id']}: thumbnails {rel!r} are outside the records folder; not shown")
        return None
    if not path.is_file():
        missing.append(str(rel))
        return None
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest / "thumbnails.svg")
    return f"galleries/{name}/thumbnails.svg"


def _url(path: str) -> str:
    return e(quote(path))


def page(board: Leaderboard, anchors: dict[str, str], galleries: dict[str, dict | None],
         strips: dict[str, str | None] | None = None, warn: Callable[[str], None] = lambda t: None) -> str:
    strips = strips or {}
    datasets = ", ".join(f"{d['name']} ({'synthetic' if d['synthetic'] else 'human sketches'})" for d in board.datasets)
    parts = ["<!DOCTYPE html>", MARKER, '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>sketchxai-bench leaderboard</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>sketchxai-bench leaderboard</h1>",
             f'<p class="sub">{len(board.runs)} run{"s" if len(board.runs) != 1 else ""} · data: {e(datasets)}</p>',
             *_first_screen(_boards(board, anchors), _strips(board, anchors, strips)),
             f'<p class="legend">{e(LEGEND)}</p><p class="legend">{e(MORE)}</p>', _plots(board, warn)]
    for title, items in footer_lines(board).items():
        if title == "Notes from the runs":
            items = _notes(board)
        if items and title == "Paired tests":  # folded: the marks on the boards say what they found
            parts.append(f"<h2>{e(title)}</h2><details><summary>{e(test_summary(board))}</summary><ul>"
                         + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul></details>")
        elif items:
            parts.append(f"<h2>{e(title)}</h2><ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
    parts.append("<h2>Runs</h2>")
    parts += [_run(board.runs[rid], anchors[rid], galleries[rid]) for rid in board.runs]
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def _cell(board: Leaderboard, row, col, anchors: dict[str, str], marked: str = "") -> str:
    """One value cell: the value (linking its run's section) with its board mark, the interval under it."""
    value, run = board.cell(row, col.key), board.cell(row, col.key, "run")
    if value is None:
        return f'<td class=num title="no run">{MISSING}</td>'
    text = cell_text(board, row, col, marked)
    main, _, interval = text.partition(" [")
    ci = f'<span class="ci">[{e(interval)}</span>' if interval else ""
    inner = f'<a href="#{e(anchors[run])}">{e(main)}</a>' if run in anchors else e(main)
    return f'<td class=num title="{e(header(col))}">{inner}{ci}</td>'


def _first_screen(boards: list[str], strips: str) -> list[str]:
    """The first board, then the sketch strips (so both are on the first screen), then the other boards."""
    return [*boards[:1], strips, *boards[1:]]


def _boards(board: Leaderboard, anchors: dict[str, str]) -> list[str]:
    """One small table per board (:mod:`benchmark.report.boards`): its title and question, the
    identity fields and headline columns it declares, the best (★) and tied (☆) marks."""
    out = []
    for b in board.boards:
        head = "".join(f'<th{" class=num" if f == "parameters" else ""}>{e(FIELD_LABELS.get(f, f))}</th>'
                       for f in b.fields)
        head += "".join(f'<th class=num title="{e(col.description)}">{e(header(col, short=True))}</th>'
                        for col in b.columns)
        rows = []
        for i in b.rows:
            row = board.frame.iloc[i]
            cells = [f'<td{" class=num" if f == "parameters" else ""}>{e(field_text(row, f))}</td>' for f in b.fields]
            cells += [_cell(board, row, col, anchors, mark(b, i, col)) for col in b.columns]
            rows.append("<tr>" + "".join(cells) + "</tr>")
        question = f'<p class="sub">{e(b.question)}</p>' if b.question else ""
        out.append(f'<h2 id="{e(b.anchor)}">{e(b.title)}</h2>{question}<table class="board"><thead><tr>{head}'
                   f'</tr></thead><tbody>' + "\n".join(rows) + "</tbody></table>")
    return out


def _row_runs(board: Leaderboard, row) -> list[str]:
    runs = []
    for col in board.columns:
        run = board.cell(row, col.key, "run")
        if run is not None and run not in runs:
            runs.append(run)
    return runs


def _row_name(board: Leaderboard, row) -> str:
    name = str(row["encoder"])
    if board.frame["dataset"].nunique() > 1:
        name += f" · {row['dataset']}"
    if row.get("setting"):
        name += f" · {row['setting']}"
    return name


def _strips(board: Leaderboard, anchors: dict[str, str], strips: dict[str, str | None]) -> str:
    """Per leaderboard row, the thumbnail strips of its runs (first screen)."""
    figures = []
    for _, row in board.frame.iterrows():
        for run in _row_runs(board, row):
            if strips.get(run):
                task = board.runs[run]["task"]["name"]
                figures.append(f'<figure class="strip"><a href="#{e(anchors[run])}"><img src="{_url(strips[run])}" '
                               f'alt="{e(task)}: sketches of {e(_row_name(board, row))}"></a>'
                               f"<figcaption>{e(_row_name(board, row))} · {e(task)}</figcaption></figure>")
    if not figures:
        return ""
    return ('<h2>Sketches</h2><p class="sub">A few inverted sketches per run, before → after; strokes coloured '
            "by drawing order (first blue, last red), dots at their start points, triangles mark strokes "
            'beyond the canvas.</p><div class="strips">' + "".join(figures) + "</div>")


def _curve(value: Any) -> dict[str, Any] | None:
    """A record curve with finite, equally long ``x``, ``y``, ``lo``, ``hi`` (else ``None``)."""
    if not isinstance(value, dict):
        return None
    try:
        series = {k: [float(v) for v in value[k]] for k in ("x", "y", "lo", "hi")}
    except (KeyError, TypeError, ValueError):
        return None
    n = len(series["x"])
    if n < 2 or any(len(v) != n for v in series.values()) or not all(
            v == v and abs(v) != float("inf") for vs in series.values() for v in vs):
        return None
    return {**series, **{k: str(value.get(k, "")) for k in ("x_label", "y_label", "title")}}


def _plots(board: Leaderboard, warn) -> str:
    """One SVG plot per (curve name, task) of the counted runs, one line and band per row."""
    plots: dict[tuple[str, str], list[tuple[int, str, dict]]] = {}
    for i, (_, row) in enumerate(board.frame.iterrows()):
        for run in _row_runs(board, row):
            record = board.runs[run]
            curves = record.get("extra", {}).get("curves") or {}
            for name, value in sorted(curves.items() if isinstance(curves, dict) else []):
                curve = _curve(value)
                if curve is None:
                    warn(f"run {run}: curve {name!r} is not x/y/lo/hi lists of one length of finite numbers; "
                         f"not plotted")
                    continue
                plots.setdefault((name, record["task"]["name"]), []).append((i, _row_name(board, row), curve))
    if not plots:
        return ""
    figures = [_plot_figure(name, task, lines) for (name, task), lines in sorted(plots.items())]
    return "<h2>Plots</h2><p class=\"sub\">Bands: 95% intervals of the mean.</p><div class=\"plots\">" + \
        "".join(figures) + "</div>"


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    import math

    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def _plot_figure(name: str, task: str, lines: list[tuple[int, str, dict]]) -> str:
    width, height, left, right, top, bottom = 560, 300, 52, 12, 28, 44
    xs = [x for _, _, c in lines for x in c["x"]]
    ys = [y for _, _, c in lines for k in ("lo", "hi", "y") for y in c[k]]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if 0 <= y0 and y1 <= 1:
        y0, y1 = 0.0, 1.0
    elif y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x: float) -> float:
        return left + (width - left - right) * (x - x0) / (x1 - x0)

    def py(y: float) -> float:
        return height - bottom - (height - top - bottom) * (y - y0) / (y1 - y0)

    first = lines[0][2]
    title = first["title"] or f"{task}: {name}"
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{e(title)}">', f"<title>{e(title)}</title>",
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{width / 2:.0f}" y="17" text-anchor="middle" font-size="13" font-weight="600">{e(title)}</text>']
    for t in _ticks(y0, y1):
        svg.append(f'<path d="M{left} {py(t):.1f}H{width - right}" stroke="#eeeeee"/>'
                   f'<text x="{left - 5}" y="{py(t) + 4:.1f}" text-anchor="end" font-size="11">{t:.3g}</text>')
    for t in _ticks(x0, x1):
        svg.append(f'<text x="{px(t):.1f}" y="{height - bottom + 15}" text-anchor="middle" font-size="11">{t:.4g}</text>')
    svg.append(f'<path d="M{left} {top}V{height - bottom}H{width - right}" fill="none" stroke="#888888"/>')
    svg.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 8}" text-anchor="middle" font-size="12">'
               f'{e(first["x_label"])}</text>')
    svg.append(f'<text transform="translate(13 {(top + height - bottom) / 2:.0f}) rotate(-90)" text-anchor="middle" '
               f'font-size="12">{e(first["y_label"])}</text>')
    key = []
    for i, label, c in lines:
        colour = PALETTE[i % len(PALETTE)]
        band = [f"{px(x):.1f},{py(y):.1f}" for x, y in zip(c["x"], c["hi"])]
        band += [f"{px(x):.1f},{py(y):.1f}" for x, y in reversed(list(zip(c["x"], c["lo"])))]
        svg.append(f'<polygon points="{" ".join(band)}" fill="{colour}" fill-opacity="0.15" stroke="none"/>')
        svg.append(f'<polyline points="{" ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(c["x"], c["y"]))}" '
                   f'fill="none" stroke="{colour}" stroke-width="2"/>')
        key.append(f'<span><span class="swatch" style="background:{colour}"></span>{e(label)}</span>')
    svg.append("</svg>")
    return f'<figure class="plot">{"".join(svg)}<figcaption class="key">{"".join(key)}</figcaption></figure>'


def _notes(board: Leaderboard) -> list[str]:
    """Each note once, with how many of the counted runs gave it."""
    counts = {note: sum(note in r["notes"] for r in board.runs.values()) for note in board.notes}
    total = len(board.runs)
    return [f"{note} ({'every run' if n == total else f'{n} of {total} runs'})" for note, n in counts.items()]


def _small_table(rows: list[tuple[str, Any]], caption: str) -> str:
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts"><caption class="sub">{e(caption)}</caption>{body}</table>'


def _versions(record: dict[str, Any]) -> list[tuple[str, Any]]:
    versions = dict(record.get("versions") or {})
    plugins = versions.pop("plugins", None) or {}
    rows = [(k, MISSING if v is None else v) for k, v in sorted(versions.items())]
    return rows + [(f"plugin {k}", v) for k, v in sorted(plugins.items())]


def _git(record: dict[str, Any]) -> list[tuple[str, Any]]:
    git = record.get("git")
    if not git:
        return [("revision", "not a git checkout")]
    return [("revision", str(git.get("revision", ""))[:12]), ("uncommitted changes", "yes" if git.get("dirty") else "no")]


def _run(record: dict[str, Any], anchor: str, gallery: dict | None) -> str:
    facts = [("task", f"{record['task']['name']} v{record['task']['version']} ({record['task']['plugin']})"),
             ("encoder", f"{record['encoder']['name']} v{record['encoder']['version']} "
                         f"({record['encoder']['plugin']})"),
             ("encoder config from", record["encoder"].get("config_source", "command")),
             ("dataset", f"{record['dataset']['name']} (checksum {str(record['dataset']['checksum'])[:12]})"),
             ("seed", record["seed"]), ("processes", record["world_size"]),
             ("created", record["created"]), ("finished", record["finished"])]
    # folded: the boards and pictures stay on a short page; a value's link opens at its run's summary line
    parts = [f'<section class="run" id="{e(anchor)}"><details><summary><h3>{e(record["run_id"])}</h3></summary>'
             '<div class="facts-row">',
             _small_table(facts, "run"), _small_table(_versions(record), "versions"), _small_table(_git(record), "git"),
             "</div>"]
    parts.append("<table><thead><tr><th>metric</th><th class=num>value</th><th class=num>CI low</th>"
                 "<th class=num>CI high</th><th class=num>n</th><th>better</th><th>unit</th><th>description</th>"
                 "</tr></thead><tbody>")
    for name, m in sorted(record["metrics"].items()):
        values = [MISSING if m.get(k) is None else f"{m[k]:.6g}" for k in ("value", "ci_low", "ci_high")]
        n = MISSING if m.get("n") is None else m["n"]
        cells = [e(name), *map(e, values), e(n), "higher" if m["higher_is_better"] else "lower",
                 e(m.get("unit", "")), e(m.get("description", ""))]
        parts.append("<tr>" + "".join(f"<td{' class=num' if 0 < i < 5 else ''}>{c}</td>"
                                      for i, c in enumerate(cells)) + "</tr>")
    parts.append("</tbody></table><details><summary>Configuration</summary>")
    parts.append(f"<pre>{e(json.dumps(record['config'], indent=2, sort_keys=True, default=str))}</pre></details>")
    if gallery is not None and "missing" in gallery:
        parts.append(f'<p class="sub">The {e(gallery["label"])} of this run ({e(gallery["missing"])}) is not in '
                     "this results folder (galleries are not committed with results): re-run the task to see it.</p>")
    elif gallery is not None:
        url = _url(gallery["index"])
        parts.append(f'<p><a href="{url}">Open the {e(gallery["label"])}</a> ({gallery["pictures"]} SVG pictures: '
                     f"every shown sketch before, during and after)</p>")
    parts.append("</details></section>")
    return "\n".join(parts)
