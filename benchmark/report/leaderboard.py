"""Leaderboards built from run records only (never from the plugin registry or memory), with pandas.

Which run counts:

* Input: the valid records (schema 1 or 2, :mod:`benchmark.records`) in ``RESULTS/runs/*.json`` (or
  ``RESULTS/*.json`` where there is no ``runs``); any other ``.json`` file there is reported on
  stderr and skipped.
* **Columns** come from the records' metric declarations only: each task's headline metrics (all
  its metrics where it declares no headline; every metric with ``all_metrics``), score columns
  ordered by the task's ``order``, name and declaration position, then speed columns.
* A **row** is one encoder (name + plugin) on one dataset (name + checksum) in one *setting*: the
  encoder version, the encoder config and the data collate settings (``max_strokes``,
  ``max_points``). Where one encoder has several settings on a dataset, the ``setting`` column names
  the keys that differ (e.g. ``encoder.depth=6``). Where records of one dataset name have several
  checksums, the dataset column adds the checksum's first 8 characters: such rows are never compared.
* **Task versions are never mixed**: for each task only the records of its newest version (natural
  order of the version strings) count; older ones are reported on stderr and left out.
* **Row keys**: a task may declare config keys that split its rows (``Task.row_keys``, carried in
  the record as ``task.row_keys``, e.g. ``{"explainer": "occlusion"}``): each such key becomes a row
  field (column) after ``plugin``, and runs that differ in it are different rows (an attribution
  task's rows are (encoder, explainer)). Records without row keys leave those fields empty.
* Per row and task, the run with the newest ``finished`` time counts (ties: the larger run id);
  task settings (e.g. ``task.epochs``) do not make new rows, so a newer run of the same encoder,
  task and dataset replaces an older one. Superseded runs are counted on stderr.
* ``--all`` (``show_all=True``) shows every run as its own row (older task versions included), with
  its run id and task; no significance tests are run then.
* Rows are sorted by dataset, then by the first metric column (best first, missing last), then by
  encoder, plugin and setting: a total order, so output is stable. Values keep full precision here;
  renderers round.
* **Several training seeds** (records with ``seeds``, from ``bench run --seed 0,1,2``): the runs of
  one row and task over those seeds make one cell (:func:`seed_groups`): the mean over seeds with an
  interval that includes the variance between seeds (:func:`over_seeds`); the ``seeds`` column
  names them. Such cells are not paired-tested (compare their intervals).
* Close calls: for each shown metric whose declaration names a paired test, rows of one dataset
  are ordered by that metric and each adjacent pair whose confidence intervals overlap is tested
  on the per-sketch rows of both runs, on the same statistic (:mod:`benchmark.report.significance`).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.config import DATA_DEFAULTS
from benchmark.contracts import field_names
from benchmark.errors import BenchError
from benchmark.records import load_records
from benchmark.report.significance import board_tests

ROW_FIELDS = ("encoder", "plugin", "dataset", "setting", "seeds", "parameters")
RUN_FIELDS = ("run_id", "task")  # extra row fields with --all
#: ``seeds``: how many training seeds a cell aggregates (1: one run).
STATS = ("value", "ci_low", "ci_high", "n", "seeds", "run")


@dataclass(frozen=True)
class ColumnInfo:
    """A shown metric column, described by the records' declaration of the metric (the newest
    counted record's; ``higher_is_better`` is ``None`` if the records disagree)."""

    key: str
    task: str
    metric: str
    label: str
    higher_is_better: bool | None
    unit: str
    description: str
    kind: str = "score"
    field: str | list[str] | None = None
    aggregation: str | None = None
    test: str | None = None
    same: tuple[str, ...] = ()
    #: How its numbers are printed (:data:`benchmark.contracts.FORMATS`).
    format: str = "number"
    #: The metric (of the same task) this column is the control of, or "".
    control_of: str = ""
    #: A headline column (shown on its board; the others are in CSV, JSON and the HTML's folds).
    headline: bool = True
    #: The board it belongs to: the task's family and variant (e.g. ``"bounded"``), its question.
    family: str = ""
    variant: str = ""
    question: str = ""
    #: The declared label (``label`` adds the variant where the column stands alone, e.g. in CSV).
    short: str = ""
    #: Row facts the family's board shows (e.g. ``("parameters",)``).
    row_facts: tuple[str, ...] = ()
    #: The validation ladder's verdict on the metric (``"holds"`` ...; ``""``: not validated).
    validation: str = ""
    #: The task's leaderboard order.
    order: int = 100

    @property
    def fields(self) -> tuple[str, ...]:
        """The per-sketch fields the metric is computed from (empty for a run-level metric)."""
        return field_names(self.field)


@dataclass
class Leaderboard:
    """``frame``: one row per leaderboard row, columns :data:`ROW_FIELDS` (plus :data:`RUN_FIELDS`
    with ``show_all``) and ``"<key> <stat>"`` for each shown column and stat in :data:`STATS`
    (NaN/None where missing). ``runs``: the counted records by run id, in row order."""

    frame: pd.DataFrame
    columns: list[ColumnInfo]
    runs: dict[str, dict[str, Any]]
    datasets: list[dict[str, Any]]
    notes: list[str]
    show_all: bool
    comparisons: list[Any] = field(default_factory=list)
    #: The tasks' row keys present in the counted records (row fields after ``plugin``).
    row_keys: list[str] = field(default_factory=list)
    #: One board per family, variant and dataset (:mod:`benchmark.report.boards`).
    boards: list[Any] = field(default_factory=list)

    @property
    def row_fields(self) -> list[str]:
        fields = [f for f in ROW_FIELDS if f not in ("setting", "seeds") or self.frame[f].ne("").any()]
        at = fields.index("plugin") + 1
        fields[at:at] = self.row_keys
        return fields + (list(RUN_FIELDS) if self.show_all else [])

    def unranked(self, run_id: Any) -> list[str]:
        """Why a run must not be ranked (its record's ``extra.unranked``: e.g. an invalid pointing
        set, a classifier at chance), empty when it may be."""
        record = self.runs.get(run_id) if isinstance(run_id, str) else None
        return list(((record or {}).get("extra") or {}).get("unranked") or [])

    def cell(self, row: pd.Series, key: str, stat: str = "value") -> Any:
        """A stat of a metric cell, ``None`` when missing."""
        value = row[f"{key} {stat}"]
        return None if value is None or (isinstance(value, float) and value != value) else value


def build(results: str | Path, tasks: Iterable[str] = (), datasets: Iterable[str] = (), show_all: bool = False,
          warn: Callable[[str], None] = lambda text: None, all_metrics: bool = False) -> Leaderboard:
    """The leaderboard of the records in ``results`` (see the module docstring for the rules);
    ``warn`` receives one line per skipped file or left-out run."""
    results = Path(results)
    if not results.is_dir():
        raise BenchError(f"results folder {results} does not exist; produce run records with "
                         f"`bench run --data demo --results {results}`")
    records, problems = load_records(results)
    for problem in problems:
        warn(f"skipped {problem}")
    records = [r for r in records if _finished_ok(r, warn)]
    if not records:
        raise BenchError(f"no run records in {results}/runs/*.json or {results}/*.json; produce some with "
                         f"`bench run --data demo --results {results}`")
    parameters = _parameters(_runs_frame(records, False))
    records = _filter(records, list(tasks), list(datasets))
    if not show_all:
        records = _newest_task_versions(records, warn)
    runs = _runs_frame(records, show_all)
    runs["parameters"] = runs["identity"].map(parameters)
    chosen = runs.sort_values(["finished", "run_id"], kind="stable").drop_duplicates(["row", "task"], keep="last")
    by_id = {r["run_id"]: r for r in records}
    groups = {} if show_all else seed_groups(runs, chosen, by_id)
    members = sum(len(g) - 1 for g in groups.values())
    if len(chosen) + members < len(runs):
        warn(f"{len(runs) - len(chosen) - members} older run(s) of the same encoder, task and dataset superseded by "
             f"newer ones (--all shows every run)")
    columns = _columns(chosen, by_id, all_metrics, warn)
    keys = row_keys(chosen)
    frame = _wide(chosen, by_id, columns, show_all, keys, groups)
    frame = _sort(frame, columns, keys)
    order = [rid for _, row in frame.iterrows() for rep in _row_runs(row, columns, chosen)
             for rid in groups.get(rep, [rep])]
    counted = {rid: by_id[rid] for rid in order}
    board = Leaderboard(frame=frame.reset_index(drop=True), columns=columns, runs=counted,
                        datasets=_datasets(counted.values()), notes=sorted({n for r in counted.values()
                                                                             for n in r["notes"]}),
                        show_all=show_all, row_keys=keys)
    from benchmark.report.boards import make_boards

    board.boards = make_boards(board, all_metrics)
    if not show_all:
        board.comparisons = board_tests(board)
    return board


def _finished_ok(record: dict[str, Any], warn) -> bool:
    try:
        record["_finished"] = pd.Timestamp(datetime.datetime.fromisoformat(record["finished"]))
    except (TypeError, ValueError):
        warn(f"skipped {record['_path']}: 'finished' is not an ISO-8601 time ({record['finished']!r})")
        return False
    if record["_finished"].tzinfo is None:
        record["_finished"] = record["_finished"].tz_localize("UTC")
    return True


def _filter(records: list[dict], tasks: list[str], datasets: list[str]) -> list[dict]:
    for wanted, field_, what in ((tasks, "task", "task"), (datasets, "dataset", "dataset")):
        if not wanted:
            continue
        known = sorted({r[field_]["name"] for r in records})
        missing = [w for w in wanted if w not in known]
        if missing:
            raise BenchError(f"no run records for {what} {', '.join(map(repr, missing))}; the records have "
                             f"{what}s: {', '.join(known)}")
        records = [r for r in records if r[field_]["name"] in wanted]
    return records


def version_key(version: str) -> tuple:
    """Natural order of version strings: ``"2" < "10"``, ``"1.2" < "1.10"``."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.findall(r"\d+|[^\d.]+", str(version)))


def _newest_task_versions(records: list[dict], warn) -> list[dict]:
    newest: dict[str, str] = {}
    for r in records:
        task, version = r["task"]["name"], str(r["task"]["version"])
        if task not in newest or version_key(version) > version_key(newest[task]):
            newest[task] = version
    kept = [r for r in records if str(r["task"]["version"]) == newest[r["task"]["name"]]]
    for task in sorted(newest):
        old = sorted({str(r["task"]["version"]) for r in records if r["task"]["name"] == task} - {newest[task]},
                     key=version_key)
        if old:
            count = sum(1 for r in records if r["task"]["name"] == task and str(r["task"]["version"]) in old)
            warn(f"left out {count} {task} run(s) of task version {', '.join(old)}: only the newest version "
                 f"({newest[task]}) is compared (--all shows them)")
    return kept


def setting_facts(record: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs of one encoder on one dataset (name + checksum) different rows."""
    config = record["config"]
    facts = {"encoder version": str(record["encoder"]["version"])}
    facts.update({f"encoder.{k}": v for k, v in sorted((config.get("encoder") or {}).items())})
    facts.update({f"data.{k}": (config.get("data") or {}).get(k) for k in sorted(DATA_DEFAULTS)})
    return facts


def task_key(record: dict[str, Any]) -> str:
    """The task a record's columns belong to: its name, plus its variant's values where the task
    declares variant settings (``sli_recovery[bounded]``), so each variant has its own columns."""
    values = [_text(v).replace(".", "_") for v in record["task"].get("variant", {}).values()]
    return record["task"]["name"] + (f"[{','.join(values)}]" if values else "")


def _variant_suffix(task: str) -> str:
    """`` (bounded)`` for the columns of task key ``sli_recovery[bounded]``; empty without a variant."""
    return f" ({task.split('[', 1)[1][:-1]})" if task.endswith("]") else ""


def _row_key_values(record: dict[str, Any]) -> dict[str, str]:
    """The record's row keys (``task.row_keys``) as text."""
    return {str(k): _text(v) for k, v in sorted((record["task"].get("row_keys") or {}).items())}


def row_keys(runs: pd.DataFrame) -> list[str]:
    """Every row key of the runs, sorted."""
    return sorted({k for keys in runs["row_keys"] for k in json.loads(keys)})


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _runs_frame(records: list[dict], show_all: bool) -> pd.DataFrame:
    rows = []
    for r in records:
        facts = setting_facts(r)
        identity = [r["encoder"]["name"], r["encoder"]["plugin"], r["dataset"]["name"], r["dataset"]["checksum"],
                    facts]
        keys = _row_key_values(r)
        rows.append({"run_id": r["run_id"], "task": task_key(r), "task_version": str(r["task"]["version"]),
                     "row_keys": _canonical(keys),
                     "encoder": str(r["encoder"]["name"]), "plugin": str(r["encoder"]["plugin"]),
                     "dataset": str(r["dataset"]["name"]), "checksum": str(r["dataset"]["checksum"]),
                     "facts": _canonical(facts), "identity": _canonical(identity),
                     "row": _canonical(identity + ([keys] if keys else []) + ([r["run_id"]] if show_all else [])),
                     "finished": r["_finished"], "parameters": r["encoder"].get("parameters")})
    return pd.DataFrame(rows)


def _parameters(runs: pd.DataFrame) -> dict[str, int]:
    """Parameter count per row identity: the newest record of that encoder setting that has one
    (recognition records it), whichever task is shown."""
    known = runs[runs["parameters"].notna()].sort_values(["finished", "run_id"], kind="stable")
    return {identity: int(p) for identity, p in zip(known["identity"], known["parameters"])}


def _setting_labels(rows: pd.DataFrame) -> pd.Series:
    """For each row, the setting keys that differ from the other rows of its (encoder, plugin,
    dataset), as ``key=value`` text; empty where the encoder has one setting there."""
    labels = pd.Series("", index=rows.index, dtype=object)
    for _, group in rows.groupby(["encoder", "plugin", "dataset"], sort=True):
        facts = {i: json.loads(f) for i, f in group["facts"].items()}
        if len({_canonical(f) for f in facts.values()}) < 2:
            continue
        keys = sorted({k for f in facts.values() for k in f})
        differing = [k for k in keys if len({_canonical(f.get(k)) for f in facts.values()}) > 1]
        for i, f in facts.items():
            labels[i] = ", ".join(f"{k}={_text(f.get(k))}" for k in differing)
    return labels


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _canonical(value)


def _columns(chosen: pd.DataFrame, by_id: dict, all_metrics: bool, warn) -> list[ColumnInfo]:
    """Every metric column of the counted runs (CSV and JSON carry them all), each marked headline
    when its task declares it so (every metric of a task that declares no headline, or with
    ``all_metrics``); score columns by task order, then speed columns."""
    present: dict[str, list[dict]] = {}
    tasks: dict[str, tuple[int, str]] = {}
    facts: dict[str, dict] = {}
    for rid in chosen.sort_values(["finished", "run_id"], kind="stable")["run_id"]:
        r = by_id[rid]
        tasks[task_key(r)] = (int(r["task"].get("order", 100)), task_key(r))
        facts[task_key(r)] = r["task"]
        for metric, entry in r["metrics"].items():
            present.setdefault(f"{task_key(r)}.{metric}", []).append(entry)
    # a metric's declaration: the newest record's that has one (version-1 records have none)
    declared = {k: ([e for e in entries if e.get("declared", True)] or entries)[-1] for k, entries in present.items()}
    headline_tasks = {k.split(".", 1)[0] for k, d in declared.items() if d.get("headline")}
    wanted = list(declared)

    def place(key: str):
        task, metric = key.split(".", 1)
        last = declared[key]
        return (last.get("kind") == "speed", tasks[task], int(last.get("position", 0)), metric)

    wanted.sort(key=place)
    labels = [str(declared[k].get("label") or k.split(".", 1)[1]) + _variant_suffix(k.split(".", 1)[0])
              for k in wanted]
    columns = []
    for key, label in zip(wanted, labels):
        task, metric = key.split(".", 1)
        entries = present[key]
        last = declared[key]
        directions = {bool(e["higher_is_better"]) for e in entries}
        if len(directions) > 1:
            warn(f"records disagree on whether {key} is higher- or lower-is-better; no arrow shown, not tested")
        info = facts[task]
        columns.append(ColumnInfo(
            key, task, metric, label if labels.count(label) == 1 else f"{task} {label}",
            directions.pop() if len(directions) == 1 else None, str(last.get("unit") or ""),
            str(last.get("description") or ""), str(last.get("kind") or "score"), last.get("field"),
            last.get("aggregation"), last.get("test"), tuple(last.get("same") or ()),
            str(last.get("format") or "number"), str(last.get("control_of") or ""),
            headline=bool(all_metrics or last.get("headline") or task not in headline_tasks),
            family=str(info.get("family") or info["name"]), variant=_variant_suffix(task)[2:-1],
            question=str(info.get("question") or ""), short=str(last.get("label") or metric),
            row_facts=tuple(info.get("row_facts") or ()), order=int(info.get("order", 100)),
            validation=str(last.get("validation") or "")))
    return columns


def seed_groups(runs: pd.DataFrame, chosen: pd.DataFrame, by_id: dict) -> dict[str, list[str]]:
    """For each counted run of a multi-seed command (record ``seeds`` has two or more), the newest
    run of each of those seeds with the same row, task and ``seeds``, by seed (the counted run
    among them); only groups of at least two runs."""
    groups = {}
    for rep in chosen.itertuples():
        seeds = by_id[rep.run_id].get("seeds") or []
        if len(seeds) < 2:
            continue
        same = runs[(runs["row"] == rep.row) & (runs["task"] == rep.task)].sort_values(["finished", "run_id"])
        newest = {}
        for rid in same["run_id"]:
            r = by_id[rid]
            if r.get("seeds") == seeds and r["seed"] in seeds:
                newest[r["seed"]] = rid
        if len(newest) > 1:
            groups[rep.run_id] = [newest[s] for s in sorted(newest)]
    return groups


def over_seeds(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One metric over training seeds, from each seed's entry ``{value, ci_low, ci_high, n}``:
    the mean of the seeds' values, and an interval whose half-width combines the variance between
    seeds and the test-set sampling of each: ``sqrt((t * s_b)^2 / k + (z * se_w)^2)``, where ``s_b``
    is the standard deviation of the ``k`` seed values, ``t`` the 97.5% quantile of Student's t with
    ``k - 1`` degrees of freedom, ``se_w`` the mean over seeds of each CI's half-width / z (its
    bootstrap or Wilson standard error; the seeds share the test sketches, so this part does not
    shrink with ``k``) and ``z`` = 1.96. Without CIs (a run-level value) only the between-seed part
    is used."""
    from scipy.stats import t as student_t

    values = [e.get("value") for e in entries]
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return {"value": None, "ci_low": None, "ci_high": None, "n": None, "seeds": len(entries)}
    values = np.asarray(values, dtype=np.float64)
    k = len(values)
    between = float(student_t.ppf(0.975, k - 1)) * float(values.std(ddof=1)) / math.sqrt(k)
    halves = [(e["ci_high"] - e["ci_low"]) / 2 for e in entries
              if e.get("ci_low") is not None and e.get("ci_high") is not None]
    within = float(np.mean(halves)) if len(halves) == k else 0.0
    half = math.sqrt(between ** 2 + within ** 2)
    mean = float(values.mean())
    ns = {e.get("n") for e in entries}
    return {"value": mean, "ci_low": mean - half, "ci_high": mean + half, "n": ns.pop() if len(ns) == 1 else None,
            "seeds": k}


def _wide(chosen: pd.DataFrame, by_id: dict, columns: list[ColumnInfo], show_all: bool,
          keys: list[str] = (), groups: dict[str, list[str]] | None = None) -> pd.DataFrame:
    groups = groups or {}
    rows = chosen.sort_values("run_id").groupby("row", sort=True)
    frame = rows[["encoder", "plugin", "dataset", "checksum", "facts"]].first()
    values = rows["row_keys"].first().map(json.loads)
    for key in keys:
        frame[key] = values.map(lambda v, k=key: v.get(k, ""))
    frame["parameters"] = rows["parameters"].first().astype("Int64")
    several = frame.groupby("dataset")["checksum"].transform("nunique") > 1
    frame.loc[several, "dataset"] = frame["dataset"] + " (" + frame["checksum"].str[:8] + ")"
    frame["setting"] = _setting_labels(frame)
    seeds = {}
    for run in chosen.itertuples():
        if run.run_id in groups:
            seeds[run.row] = ",".join(str(by_id[m]["seed"]) for m in groups[run.run_id])
    frame["seeds"] = [seeds.get(row, "") for row in frame.index]
    frame["label"] = [row_label(row, keys) for _, row in frame.iterrows()]
    if show_all:
        first = rows[["run_id", "task", "task_version"]].first()
        frame["run_id"] = first["run_id"]
        frame["task"] = first["task"] + " v" + first["task_version"]
    def entry_of(run_id: str, metric: str) -> dict[str, Any] | None:
        if run_id not in groups:
            entry = by_id[run_id]["metrics"].get(metric)
            return None if entry is None else {**entry, "seeds": 1}
        entries = [by_id[m]["metrics"].get(metric) for m in groups[run_id]]
        return None if any(e is None for e in entries) else over_seeds(entries)

    cells = [{"row": run.row, "key": col.key, "run": run.run_id,
              **{stat: _number(entry.get(stat)) for stat in STATS[:-1]}}
             for run in chosen.itertuples() for col in columns
             if col.task == run.task and (entry := entry_of(run.run_id, col.metric)) is not None]
    names = [f"{col.key} {stat}" for col in columns for stat in STATS]
    if cells:
        wide = pd.DataFrame(cells).pivot(index="row", columns="key", values=list(STATS))
        wide.columns = [f"{key} {stat}" for stat, key in wide.columns]
        frame = frame.join(wide)
    frame = frame.reindex(columns=[*frame.columns.drop(names, errors="ignore"), *names])
    frame = frame.astype({name: object if name.endswith(" run") else "float64" for name in names}).copy()  # consolidated: no fragmented frame
    frame["row"] = frame.index
    frame.index.name = None
    return frame


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _sort(frame: pd.DataFrame, columns: list[ColumnInfo], keys: list[str] = ()) -> pd.DataFrame:
    keys_ = ["dataset"]
    frame = frame.copy()
    headline = [c for c in columns if c.headline]
    if headline:
        primary = headline[0]
        sign = -1.0 if primary.higher_is_better is not False else 1.0
        frame["_primary"] = frame[f"{primary.key} value"] * sign
        keys_.append("_primary")
    order = [*keys_, "encoder", "plugin", *keys, "setting", "row"]
    frame = frame.sort_values(order, kind="stable", na_position="last")
    return frame.drop(columns=[k for k in ("_primary",) if k in frame])


def _row_runs(row: pd.Series, columns: list[ColumnInfo], chosen: pd.DataFrame) -> list[str]:
    """The counted run ids of one row, in column order of their tasks."""
    rank: dict[str, int] = {}
    for i, col in enumerate(columns):
        rank.setdefault(col.task, i)
    runs = chosen[chosen["row"] == row["row"]]
    return [rid for _, rid in sorted((rank.get(t, len(columns)), rid) for t, rid in zip(runs["task"], runs["run_id"]))]


def _datasets(records: Iterable[dict]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        d = r["dataset"]
        seen.setdefault((str(d["name"]), str(d["checksum"])), {
            "name": str(d["name"]), "checksum": str(d["checksum"]), "synthetic": bool(d["synthetic"]),
            "num_categories": len(d["categories"]), "splits": dict(sorted(d["splits"].items())),
            "source": d.get("source")})
    return [seen[k] for k in sorted(seen)]


def row_label(row: pd.Series, keys: Iterable[str] = ()) -> str:
    """``encoder (plugin)``, with the row keys' values (e.g. the explainer) and the setting where
    there are some."""
    text = f"{row['encoder']} ({row['plugin']})"
    values = [str(row[k]) for k in keys if row.get(k)]
    if values:
        text += " " + " ".join(values)
    return f"{text} [{row['setting']}]" if row["setting"] else text
