"""The HTML report: one self-contained folder with ``index.html`` (leaderboard, close calls, each
counted run's configuration and metrics) and ``galleries/<run>/`` (copies of the runs' pages).

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
from benchmark.report.render import LEGEND, MISSING, cell_text, field_text, footer_lines, header, text_rows

MARKER = "<!-- sketchxai-bench report -->"
PAGE = "index.html"
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}pre{background:#f6f6f6;padding:.8em;overflow:auto}
iframe{width:100%;height:40em;border:1px solid #ddd}.legend{color:#555}"""


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
        galleries = {rid: _copy_gallery(board.runs[rid], tmp / "galleries" / anchors[rid], anchors[rid], warn)
                     for rid in board.runs}
        atomic_write_text(tmp / "index.html", page(board, anchors, galleries))
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


def _copy_gallery(record: dict[str, Any], dest: Path, name: str, warn) -> dict[str, Any] | None:
    """Copy a run's page folder to ``dest``; returns its label, page and SVG count relative to the report."""
    pages = sorted((label, rel) for label, rel in record["artifacts"].items() if str(rel).endswith(PAGE))
    if not pages:
        return None
    label, rel = pages[0]
    base = Path(record["_path"]).parent.resolve()
    index = (base / rel).resolve()
    if not index.is_relative_to(base) or not index.is_file():
        warn(f"run {record['run_id']}: page {rel!r} is missing or outside the records folder; not copied")
        return None
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


def _url(path: str) -> str:
    return e(quote(path))


def page(board: Leaderboard, anchors: dict[str, str], galleries: dict[str, dict | None]) -> str:
    parts = ["<!DOCTYPE html>", MARKER, '<html lang="en"><head><meta charset="utf-8">',
             "<title>sketchxai-bench leaderboard</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>Leaderboard</h1>", _leaderboard(board, anchors), f'<p class="legend">{e(LEGEND)}</p>']
    for title, items in footer_lines(board).items():
        if items:
            parts.append(f"<h2>{e(title)}</h2><ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
    parts.append("<h2>Runs</h2>")
    parts += [_run(board.runs[rid], anchors[rid], galleries[rid]) for rid in board.runs]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _leaderboard(board: Leaderboard, anchors: dict[str, str]) -> str:
    headers, _, numeric = text_rows(board)
    fields = board.row_fields
    head = "".join(f'<th{" class=num" if n else ""}>{e(h)}</th>' for h, n in zip(headers, numeric))
    rows = []
    for _, row in board.frame.iterrows():
        cells = [f'<td{" class=num" if f == "parameters" else ""}>{e(field_text(row, f))}</td>' for f in fields]
        for col in board.columns:
            text, run = cell_text(board, row, col), board.cell(row, col.key, "run")
            inner = e(text) if text == MISSING or run is None else f'<a href="#{e(anchors[run])}">{e(text)}</a>'
            cells.append(f'<td class=num title="{e(header(col))}">{inner}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>"


def _run(record: dict[str, Any], anchor: str, gallery: dict | None) -> str:
    facts = [("task", f"{record['task']['name']} v{record['task']['version']} ({record['task']['plugin']})"),
             ("encoder", f"{record['encoder']['name']} v{record['encoder']['version']} "
                         f"({record['encoder']['plugin']})"),
             ("dataset", f"{record['dataset']['name']} (checksum {record['dataset']['checksum']})"),
             ("seed", record["seed"]), ("processes", record["world_size"]),
             ("created", record["created"]), ("finished", record["finished"]),
             ("versions", json.dumps(record["versions"], sort_keys=True)),
             ("git", json.dumps(record["git"], sort_keys=True))]
    parts = [f'<section id="{e(anchor)}"><h3>{e(record["run_id"])}</h3><dl>']
    parts += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts]
    parts.append("</dl><table><thead><tr><th>metric</th><th class=num>value</th><th class=num>CI low</th>"
                 "<th class=num>CI high</th><th class=num>n</th><th>better</th><th>unit</th><th>description</th>"
                 "</tr></thead><tbody>")
    for name, m in sorted(record["metrics"].items()):
        values = [MISSING if m.get(k) is None else f"{m[k]:.6g}" for k in ("value", "ci_low", "ci_high")]
        n = MISSING if m.get("n") is None else m["n"]
        cells = [e(name), *map(e, values), e(n), "higher" if m["higher_is_better"] else "lower",
                 e(m.get("unit", "")), e(m.get("description", ""))]
        parts.append("<tr>" + "".join(f"<td{' class=num' if 0 < i < 5 else ''}>{c}</td>"
                                      for i, c in enumerate(cells)) + "</tr>")
    parts.append("</tbody></table><h4>Configuration</h4>")
    parts.append(f"<pre>{e(json.dumps(record['config'], indent=2, sort_keys=True, default=str))}</pre>")
    if record["notes"]:
        parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in record["notes"]) + "</ul>")
    if gallery is not None:
        url = _url(gallery["index"])
        title = e(gallery["label"])
        parts.append(f'<h4>{title}</h4><p><a href="{url}">open the {title}</a> ({gallery["pictures"]} SVG '
                     f'pictures)</p><iframe src="{url}" title="{title}" loading="lazy"></iframe>')
    parts.append("</section>")
    return "\n".join(parts)
