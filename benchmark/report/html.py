"""The HTML report: one self-contained folder with ``index.html`` and ``galleries/<run>/`` (copies of
the runs' pages and thumbnail strips), designed to be read at 1280 px without scrolling sideways.

Python computes the page's data (board rows and cells with their marks and links, anchors, strip
paths, plot coordinates and ticks in :mod:`benchmark.report.plots`, run facts); Jinja2 templates
(package data, :mod:`benchmark.report.templating`) own every tag, attribute and the CSS:
``templates/report.html.j2`` (the page), ``board.html.j2``, ``plot.html.j2`` (the SVG plots),
``run.html.j2`` and ``report.css``. ``BENCH_REPORT_TEMPLATES=DIR`` names a folder searched first:
a file there (e.g. ``report.css``) replaces the package's of the same name, so a reader restyles the
report without touching code; a folder that does not exist or a broken template is a one-line
error naming the file.

The page: the first board (identity and headline columns, each value over its interval, the ★/☆
marks), then the thumbnail strips of each row's runs (an artifact labelled ``thumbnails`` whose path
ends ``.svg``), then the other boards; one SVG plot (no script) per record curve name and task,
each line and band one row's run, its legend naming the row (encoder, explainer) and the task's
variant (preset); a plot a registered task declares but its older records lack says so in its
place; the paired tests folded under a one-line summary, datasets, each note once (with how many
runs gave it); per run, folded under its id, its facts, versions and git revision as small tables,
its metrics, its configuration and a link to its gallery page.

Everything taken from a record (names, configs, notes, paths) is escaped by the templates'
autoescaping. Gallery folders (a run's *page* is any artifact whose path ends in ``index.html``,
e.g. an SLI gallery ``<run_id>/gallery/index.html``, with the files beside it; one page a run) are
copied only from inside the records folder, without following symbolic links. The folder is built
beside ``--out`` and swapped in, and an existing ``--out`` is replaced only when it is empty or an
earlier report.
"""

from __future__ import annotations

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
from benchmark.records import atomic_write_text
from benchmark.report import plots
from benchmark.report.leaderboard import Leaderboard
from benchmark.report.render import (FIELD_LABELS, LEGEND, MISSING, MORE, cell_text, field_text, footer_lines,
                                     header, mark, test_summary)
from benchmark.report.templating import MARKER, render_page

PAGE = "index.html"
THUMBNAILS = "thumbnails"


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
        atomic_write_text(tmp / "index.html", page(board, anchors, galleries, strips, warn, plots.registered_curves(),
                                                       plots.registered_controls()))
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
    """Copy a run's page folder to ``dest``; returns ``{"label", "index", "pictures", "missing"}``: its
    label, page relative to the report and SVG count, ``missing`` ``None`` (a page not in the records
    folder: its path, appended to ``missing``, ``index`` ``None``; the run's section says so rather
    than link it)."""
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
        return {"label": label, "index": None, "pictures": 0, "missing": str(rel)}
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
    return {"label": label, "index": quote(f"galleries/{name}/{index.relative_to(src).as_posix()}"),
            "pictures": sum(1 for p in copied if p.lower().endswith(".svg")), "missing": None}


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


def page(board: Leaderboard, anchors: dict[str, str], galleries: dict[str, dict | None],
         strips: dict[str, str | None] | None = None, warn: Callable[[str], None] = lambda t: None,
         declared: dict[str, tuple[str, dict[str, str]]] | None = None,
         controls: dict[str, dict[str, str]] | None = None) -> str:
    """The text of ``index.html``: the page's data rendered by the templates
    (:func:`benchmark.report.templating.render_page`). ``declared``: the curves registered tasks
    declare (:func:`benchmark.report.plots.registered_curves`), for saying which records predate one;
    ``controls``: the curves they declare with a control line
    (:func:`benchmark.report.plots.registered_controls`), for saying which records predate it."""
    rows = [(_row_name(board, row), _row_runs(board, row)) for _, row in board.frame.iterrows()]
    footer = []
    for title, items in footer_lines(board).items():
        if title == "Notes from the runs":
            items = _notes(board)
        if items:  # the paired tests folded: the marks on the boards say what they found
            footer.append({"title": title, "lines": items,
                           "summary": test_summary(board) if title == "Paired tests" else None})
    return render_page({
        "runs_count": len(board.runs),
        "datasets": ", ".join(f"{d['name']} ({'synthetic' if d['synthetic'] else 'human sketches'})"
                              for d in board.datasets),
        "boards": _boards(board, anchors), "strips": _strips(board, anchors, strips or {}, rows),
        "legend": LEGEND, "more": MORE, "plots": plots.collect(board.runs, rows, warn, controls),
        "absent": plots.absent(board.runs, declared or {}), "footer": footer,
        "runs": [_run(board.runs[rid], anchors[rid], galleries[rid]) for rid in board.runs]})


def _cell(board: Leaderboard, row, col, anchors: dict[str, str], marked: str = "") -> dict[str, Any]:
    """One value cell: the value (linking its run's section) with its board mark, the interval under it."""
    value, run = board.cell(row, col.key), board.cell(row, col.key, "run")
    if value is None:
        return {"text": MISSING, "num": True, "title": "no run", "href": None, "ci": None}
    main, _, interval = cell_text(board, row, col, marked).partition(" [")
    return {"text": main, "num": True, "title": header(col), "href": anchors.get(run),
            "ci": f"[{interval}" if interval else None}


def _boards(board: Leaderboard, anchors: dict[str, str]) -> list[dict[str, Any]]:
    """One small table per board (:mod:`benchmark.report.boards`): its title and question, the
    identity fields and headline columns it declares, the best (★) and tied (☆) marks."""
    out = []
    for b in board.boards:
        head = [{"text": FIELD_LABELS.get(f, f), "num": f == "parameters", "title": None} for f in b.fields]
        head += [{"text": header(col, short=True), "num": True, "title": col.description} for col in b.columns]
        rows = []
        for i in b.rows:
            row = board.frame.iloc[i]
            cells = [{"text": field_text(row, f), "num": f == "parameters", "title": None, "href": None, "ci": None}
                     for f in b.fields]
            rows.append(cells + [_cell(board, row, col, anchors, mark(b, i, col)) for col in b.columns])
        out.append({"anchor": b.anchor, "title": b.title, "question": b.question, "head": head, "rows": rows})
    return out


def _row_runs(board: Leaderboard, row) -> list[str]:
    runs = []
    for col in board.columns:
        run = board.cell(row, col.key, "run")
        if run is not None and run not in runs:
            runs.append(run)
    return runs


def _row_name(board: Leaderboard, row) -> str:
    """The row as a legend or caption names it: encoder, dataset (where several), setting, row keys."""
    name = str(row["encoder"])
    if board.frame["dataset"].nunique() > 1:
        name += f" · {row['dataset']}"
    for key in ("setting", *board.row_keys):
        if row.get(key):
            name += f" · {row[key]}"
    return name


def _strips(board: Leaderboard, anchors: dict[str, str], strips: dict[str, str | None],
            rows: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """Per leaderboard row, the thumbnail strips of its runs (first screen)."""
    figures = []
    for name, runs in rows:
        for run in runs:
            if strips.get(run):
                task = board.runs[run]["task"]["name"]
                figures.append({"anchor": anchors[run], "src": quote(strips[run]), "alt": f"{task}: sketches of {name}",
                                "caption": f"{name} · {task}"})
    return figures


def _notes(board: Leaderboard) -> list[str]:
    """Each note once, with how many of the counted runs gave it."""
    counts = {note: sum(note in r["notes"] for r in board.runs.values()) for note in board.notes}
    total = len(board.runs)
    return [f"{note} ({'every run' if n == total else f'{n} of {total} runs'})" for note, n in counts.items()]


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


def _run(record: dict[str, Any], anchor: str, gallery: dict | None) -> dict[str, Any]:
    """A run's section (folded under its id: the boards and pictures stay on a short page; a value's
    link opens at its run's summary line): facts, versions, git, metrics, configuration, gallery."""
    facts = [("task", f"{record['task']['name']} v{record['task']['version']} ({record['task']['plugin']})"),
             ("encoder", f"{record['encoder']['name']} v{record['encoder']['version']} "
                         f"({record['encoder']['plugin']})"),
             ("encoder config from", record["encoder"].get("config_source", "command")),
             ("dataset", f"{record['dataset']['name']} (checksum {str(record['dataset']['checksum'])[:12]})"),
             ("seed", record["seed"]), ("processes", record["world_size"]),
             ("created", record["created"]), ("finished", record["finished"])]
    metrics = []
    for name, m in sorted(record["metrics"].items()):
        value, low, high = (MISSING if m.get(k) is None else f"{m[k]:.6g}" for k in ("value", "ci_low", "ci_high"))
        metrics.append({"name": name, "value": value, "ci_low": low, "ci_high": high,
                        "n": MISSING if m.get("n") is None else m["n"],
                        "better": "higher" if m["higher_is_better"] else "lower", "unit": m.get("unit", ""),
                        "description": m.get("description", "")})
    return {"anchor": anchor, "run_id": record["run_id"], "facts": facts, "versions": _versions(record),
            "git": _git(record), "metrics": metrics,
            "config": json.dumps(record["config"], indent=2, sort_keys=True, default=str), "gallery": gallery}
