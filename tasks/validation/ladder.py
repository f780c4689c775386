"""The validation ladder: its rungs, the measures it checks, running it and its table (see
:mod:`tasks.validation`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError

PLUGIN = "tasks.validation.known_answer"
DATA = "demo"
SPLIT = "valid"


@dataclass(frozen=True)
class Rung:
    name: str
    encoder: str
    source: str  # "known_answer" | "random" | "train"
    settings: tuple[str, ...] = ()
    sli: bool = True


@dataclass(frozen=True)
class Measure:
    label: str
    task: str
    metric: str
    preset: str | None
    rungs: tuple[str, ...]


RUNGS = (
    Rung("known answer", "known_answer", "known_answer"),
    Rung("well trained", "stroke_vit_tiny", "train"),
    Rung("under trained", "stroke_vit_tiny", "train",
         ("recognition.recipe=published", "encoder.location_init_std=null")),
    Rung("random weights", "stroke_vit_tiny", "random"),
    Rung("no location", "stroke_vit_tiny_no_location", "train", sli=False),
)
_SLI_LADDER = ("known answer", "well trained", "under trained", "random weights")
#: skill is relative to the classifier's own random weights: the known answer has none to randomise
_SKILL_LADDER = ("well trained", "under trained", "random weights")
MEASURES = (
    Measure("SLI fidelity, published protocol", "sli_recovery", "fidelity", "published", _SLI_LADDER),
    Measure("SLI aligned fidelity, published", "sli_recovery", "aligned_fidelity", "published", _SLI_LADDER),
    Measure("SLI skill vs random weights, published", "sli_recovery", "skill", "published", _SKILL_LADDER),
    Measure("SLI accuracy after, published", "sli_recovery", "accuracy_after", "published", _SLI_LADDER),
    Measure("SLI fidelity, bounded protocol", "sli_recovery", "fidelity", "bounded", _SLI_LADDER),
    Measure("SLI aligned fidelity, bounded", "sli_recovery", "aligned_fidelity", "bounded", _SLI_LADDER),
    Measure("SLI skill vs random weights, bounded", "sli_recovery", "skill", "bounded", _SKILL_LADDER),
    Measure("location reliance (scrambled)", "location_reliance", "reliance", None,
            ("known answer", "well trained", "under trained", "no location")),
    Measure("location reliance (shuffled)", "location_reliance", "reliance_shuffle", None,
            ("known answer", "well trained", "under trained", "no location")),
)


@dataclass(frozen=True)
class Setup:
    """Where and how the ladder runs (tests use a tiny dataset from a one-file plugin)."""

    results: Path
    max_sketches: int = 200
    threads: int | None = None
    seed: int = 0
    data: str = DATA
    plugins: tuple[str, ...] = (PLUGIN,)
    #: settings added to every run (e.g. ``sli_recovery.steps=20`` in tests)
    overrides: tuple[str, ...] = ()


def _run(setup: Setup, tasks, encoder, overrides, checkpoint=None) -> list[dict[str, Any]]:
    from benchmark import run

    specs = run.plan(list(tasks), [encoder], setup.data, setup.seed, str(setup.results),
                     [*overrides, *setup.overrides], checkpoint)
    return run.run(specs, plugin_files=setup.plugins, threads=setup.threads)


def _checkpoint(rung: Rung, setup: Setup) -> str:
    """The rung's classifier: trained by ``recognition`` (reused when the folder has one with the
    same settings), or written directly (known answer; random weights)."""
    from benchmark.plugins import get_manager

    folder = setup.results / "classifiers" / rung.name.replace(" ", "_")
    if rung.source == "train":
        records = _run(setup, ["recognition"], rung.encoder, rung.settings)
        return str(setup.results / "runs" / records[0]["artifacts"]["checkpoint"])
    from benchmark.checkpoints import save_checkpoint
    from benchmark.model import fresh_module

    manager = get_manager()
    cls = manager.encoder(rung.encoder)
    dataset = manager.dataset(setup.data)
    data = dataset.open(dict(dataset.defaults))
    config = cls.full_config({})
    module = fresh_module(cls, len(data.categories), config, setup.seed)
    save_checkpoint(folder, cls.name, cls.version, module, config, data.categories,
                    {"validation_rung": rung.name, "trained": False})
    return str(folder)


def build_ladder(setup: Setup, rungs: tuple[Rung, ...] = RUNGS) -> dict[str, Any]:
    """Run every rung's classifier through every measure's task; returns (and writes) the manifest."""
    from benchmark.plugins import configure
    from benchmark.records import atomic_write_text

    configure(setup.plugins)
    ladder: dict[str, Any] = {"data": setup.data, "split": SPLIT, "seed": setup.seed,
                              "max_sketches": setup.max_sketches, "overrides": list(setup.overrides), "rungs": {}}
    manifest = setup.results / "ladder.json"
    done = json.loads(manifest.read_text()) if manifest.is_file() else {}
    if {k: v for k, v in done.items() if k != "rungs"} == {k: v for k, v in ladder.items() if k != "rungs"}:
        ladder["rungs"] = done["rungs"]  # an interrupted ladder goes on after its last finished rung
    common = [f"task.split={SPLIT}"]
    for rung in rungs:
        if rung.name in ladder["rungs"]:
            continue
        checkpoint = _checkpoint(rung, setup)
        runs = {}
        reliance = _run(setup, ["location_reliance"], rung.encoder, common, checkpoint)
        runs["location_reliance"] = reliance[0]["run_id"]
        if rung.sli:
            for preset in ("published", "bounded"):
                records = _run(setup, ["sli_recovery"], rung.encoder,
                               [*common, f"sli_recovery.preset={preset}",
                                f"sli_recovery.max_sketches={setup.max_sketches}", "sli_recovery.pictures=0"],
                               checkpoint)
                runs[f"sli_recovery[{preset}]"] = records[0]["run_id"]
        ladder["rungs"][rung.name] = {"encoder": rung.encoder, "classifier": rung.source,
                                      "settings": list(rung.settings),
                                      "checkpoint": os.path.relpath(checkpoint, setup.results), "runs": runs}
        atomic_write_text(manifest, json.dumps(ladder, indent=2, sort_keys=True) + "\n")
    ladder["rungs"] = {r.name: ladder["rungs"][r.name] for r in rungs}
    atomic_write_text(manifest, json.dumps(ladder, indent=2, sort_keys=True) + "\n")
    return ladder


def _column(task: str, metric: str, entry: dict[str, Any]):
    from benchmark.report.leaderboard import ColumnInfo

    return ColumnInfo(f"{task}.{metric}", task, metric, str(entry.get("label") or metric), entry["higher_is_better"],
                      str(entry.get("unit") or ""), str(entry.get("description") or ""), "score", entry.get("field"),
                      entry.get("aggregation"), entry.get("test"), tuple(entry.get("same") or ()))


def evaluate(results: Path, measures: tuple[Measure, ...] = MEASURES) -> list[dict[str, Any]]:
    """Per measure: each rung's value and CI, each adjacent comparison, and the verdict."""
    from benchmark.records import read_record
    from benchmark.report.significance import ALPHA, compare

    ladder = json.loads((results / "ladder.json").read_text())
    out = []
    for m in measures:
        key = m.task if m.preset is None else f"{m.task}[{m.preset}]"
        paths = [results / "runs" / f"{ladder['rungs'][r]['runs'][key]}.json" for r in m.rungs]
        records = [{**read_record(p), "_path": str(p)} for p in paths]  # _path: where the per-sketch rows are
        entries = [r["metrics"][m.metric] for r in records]
        col = _column(m.task, m.metric, entries[0])
        steps, verdict = [], "holds"
        for (ra, a), (rb, b), ea, eb in zip(zip(records, m.rungs), zip(records[1:], m.rungs[1:]), entries, entries[1:]):
            better = ea["value"] > eb["value"] if col.higher_is_better else ea["value"] < eb["value"]
            comparison = compare(ra, rb, col, ladder["data"], a, b)
            significant = comparison.p_value is not None and comparison.p_value < ALPHA
            steps.append({"upper": a, "lower": b, "in_order": bool(better), "p_value": comparison.p_value,
                          "test": comparison.test, "reason": comparison.reason})
            if not better:
                verdict = "fails"
            elif not significant and verdict == "holds":
                verdict = "direction only"
        out.append({"measure": m.label, "task": key, "metric": m.metric, "higher_is_better": col.higher_is_better,
                    "rungs": [{"rung": r, "value": e["value"], "ci_low": e.get("ci_low"), "ci_high": e.get("ci_high")}
                              for r, e in zip(m.rungs, entries)], "steps": steps, "verdict": verdict})
    return out


def markdown(rows: list[dict[str, Any]], ladder: dict[str, Any]) -> str:
    names: list[str] = []  # rungs best first, as the measures list them
    for row in rows:
        for rung in row["rungs"]:
            if rung["rung"] not in names:
                names.append(rung["rung"])
    lines = ["# Validation of the measures: a ladder of classifiers with a known order", "",
             f"Data `{ladder['data']}`" + (" (synthetic: procedurally drawn, not human sketches)" if ladder["data"] == DATA
                                            else "") + f", split `{ladder['split']}`, seed "
             f"{ladder['seed']}, at most {ladder['max_sketches']} sketches per SLI run. Rungs, best first: "
             + "; ".join(f"**{n}** ({_describe(ladder['rungs'][n])})" for n in names) + ".", "",
             "A measure **holds** when every adjacent pair of rungs is in the expected order and significantly "
             "so (its declared paired test, α = 0.05); **direction only** when the order is right but a step is "
             "not significant; it **fails** when a lower rung scores higher.", "",
             "| measure | " + " | ".join(names) + " | verdict |", "|---|" + "---|" * len(names) + "---|"]
    for row in rows:
        values = {r["rung"]: r for r in row["rungs"]}
        cells = [_value(values[n]) if n in values else "—" for n in names]
        arrow = "↑" if row["higher_is_better"] else "↓"
        lines.append(f"| {row['measure']} {arrow} | " + " | ".join(cells) + f" | **{row['verdict']}** |")
    lines += ["", "Adjacent comparisons (paired test on the same sketches and starts):", ""]
    for row in rows:
        parts = []
        for s in row["steps"]:
            p = "not tested" if s["p_value"] is None else f"p = {s['p_value']:.3g}"
            parts.append(f"{s['upper']} {'>' if s['in_order'] else '≤'} {s['lower']} ({p})")
        lines.append(f"- {row['measure']}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def _describe(rung: dict[str, Any]) -> str:
    what = {"known_answer": "told the true layout", "random": "random weights",
            "train": "trained, " + (", ".join(rung["settings"]) or "default recipe")}[rung["classifier"]]
    return f"{rung['encoder']}, {what}"


def _value(r: dict[str, Any]) -> str:
    if r["ci_low"] is None:
        return f"{r['value']:.3f}"
    return f"{r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.validation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="results/validation", help="records folder (default %(default)s)")
    parser.add_argument("--max-sketches", type=int, default=200, help="sketches per SLI run (default %(default)s)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table-only", action="store_true", help="rebuild the table from the records only")
    parser.add_argument("--out", default=None, help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    from benchmark.plugins import configure
    from benchmark.records import atomic_write_text

    configure((PLUGIN,))  # for --table-only; build_ladder configures its own
    results = Path(args.results)
    try:
        if args.table_only:
            if not (results / "ladder.json").is_file():
                raise BenchError(f"{results}/ladder.json: no ladder here; run without --table-only first")
        else:
            build_ladder(Setup(results, args.max_sketches, args.threads, args.seed))
        text = markdown(evaluate(results), json.loads((results / "ladder.json").read_text()))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    if args.out:
        atomic_write_text(Path(args.out), text)
    return 0

