"""Leaderboards from hand-written (schema-valid) run records: rules, formats, significance, HTML."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_bench

from benchmark import Metric
from benchmark.errors import BenchError
from benchmark.records import validate, write_record
from benchmark.report import leaderboard, publish, render
from benchmark.report.html import write_report
from tasks.recognition import Recognition
from tasks.sli import SLIRecovery, SLITransfer

#: The built-in tasks' metric declarations, as their records carry them.
DECLARED = {cls.name: cls.metrics for cls in (Recognition, SLIRecovery, SLITransfer)}

CHECKSUM = "c0ffee" * 8
DESCRIPTIONS = {"fraction": "a fraction", "sketches/s": "throughput"}


def m(value, low=None, high=None, unit="fraction", higher=True, n=None):
    """One metric entry as build_record writes it (:func:`make_record` adds the declaration)."""
    entry = {"value": value, "higher_is_better": higher, "description": DESCRIPTIONS.get(unit, ""), "unit": unit}
    if low is not None:
        entry.update(ci_low=low, ci_high=high)
    if n is not None:
        entry["n"] = n
    return entry


def make_record(run_id, metrics, task="recognition", encoder="enc_a", plugin="encoders", dataset="demo",
                finished="2026-01-01T10:00:00+00:00", checksum=CHECKSUM, task_version="1", encoder_config=None,
                parameters=1000, artifacts=None, notes=(), synthetic=True):
    metrics = {name: declared(task, name, entry) for name, entry in metrics.items()}
    record = {
        "schema_version": 2, "run_id": run_id, "created": "2026-01-01T09:00:00+00:00", "finished": finished,
        "task": {"name": task, "version": task_version, "plugin": "tasks", "plugin_version": "0.1.0"},
        "encoder": {"name": encoder, "version": "1", "plugin": plugin, "plugin_version": "0.1.0",
                    "capabilities": ["sli"], "parameters": parameters},
        "dataset": {"name": dataset, "categories": ["cat", "dog"], "num_categories": 2,
                    "splits": {"train": 40, "valid": 10, "test": 20}, "checksum": checksum, "synthetic": synthetic,
                    "source": "hand-written"},
        "config": {"encoder": encoder_config or {"depth": 12}, "task": {"epochs": 1},
                   "data": {"max_strokes": 196, "max_points": None}},
        "seed": 0, "world_size": 1, "metrics": metrics, "timings": {"total_s": 1.0},
        "artifacts": artifacts or {}, "extra": {},
        "versions": {"sketchxai_bench": "0.1.0", "python": "3.11", "torch": "2.13.0"},
        "git": None, "host": {"hostname": "test"}, "notes": list(notes),
    }
    assert validate(record) == []
    return record


def declared(task: str, name: str, entry: dict) -> dict:
    """``entry`` with the declaration of metric ``name`` of a built-in task (a plain declaration
    from the entry's direction and unit for other tasks)."""
    specs = DECLARED.get(task, {})
    spec = specs.get(name) or Metric(entry["higher_is_better"], entry.get("description", ""), entry.get("unit", ""))
    return {**spec.declaration(list(specs).index(name) if name in specs else 0), **entry}


def write(results: Path, *records) -> None:
    for record in records:
        write_record(results / "runs", record)


def per_sketch(results: Path, run_id: str, rows: list[dict]) -> dict[str, str]:
    """Write ``runs/<run_id>/per_sketch.jsonl``; returns the artifacts entry."""
    path = results / "runs" / run_id / "per_sketch.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"per_sketch": f"{run_id}/per_sketch.jsonl"}


def build(results: Path, **kwargs):
    warnings: list[str] = []
    board = leaderboard.build(results, warn=warnings.append, **kwargs)
    return board, warnings


def md_table(text: str) -> list[dict[str, str]]:
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    split = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]
    return [dict(zip(split[0], row)) for row in split[2:]]


@pytest.fixture
def two_encoders(tmp_path: Path) -> Path:
    """enc_a (recognition + SLI recovery) and enc_b (recognition only) on demo."""
    write(tmp_path,
          make_record("r-a", {"top1": m(0.8, 0.7, 0.88, n=100), "top5": m(0.95, 0.9, 0.98, n=100),
                              "test_loss": m(0.61, 0.5, 0.7, unit="nats", higher=False),
                              "train_sketches_per_s": m(120.54, unit="sketches/s"),
                              "eval_sketches_per_s": m(900.25, unit="sketches/s")}, parameters=1234567),
          make_record("r-b", {"top1": m(0.6, 0.5, 0.69, n=100), "top5": m(0.9, 0.85, 0.94, n=100),
                              "eval_sketches_per_s": m(1500.0, unit="sketches/s")}, encoder="enc_b",
                      parameters=2000),
          make_record("s-a", {"fidelity": m(0.42, 0.4, 0.44), "accuracy_after": m(0.7, 0.6, 0.78),
                              "sketches_per_s": m(12.0, unit="sketches/s")}, task="sli_recovery", parameters=None,
                      notes=["dataset 'demo' is synthetic"]))
    return tmp_path


def test_every_format_gives_the_expected_cells(two_encoders):
    board, warnings = build(two_encoders)
    assert warnings == []
    assert [c.key for c in board.columns if c.headline] == [
        "recognition.top1", "recognition.top5", "sli_recovery.fidelity",
        "recognition.train_sketches_per_s", "recognition.eval_sketches_per_s"]

    rows = list(csv.DictReader(io.StringIO(render.render(board, "csv"))))
    assert [r["encoder"] for r in rows] == ["enc_a", "enc_b"]
    a, b = rows
    assert a["plugin"] == "encoders" and a["dataset"] == "demo" and a["parameters"] == "1234567"
    assert a["top-1 (fraction) ↑"] == "0.8" and a["top-1 CI low"] == "0.7" and a["top-1 CI high"] == "0.88"
    assert a["SLI fidelity (fraction) ↑"] == "0.42" and a["train speed (sketches/s) ↑"] == "120.54"
    assert b["SLI fidelity (fraction) ↑"] == "" and b["SLI fidelity CI low"] == ""  # missing, not 0
    assert b["train speed (sketches/s) ↑"] == "" and b["eval speed (sketches/s) ↑"] == "1500.0"
    assert "train speed CI low" not in a  # no run reports an interval for it

    data = json.loads(render.render(board, "json"))
    assert [r["encoder"] for r in data["rows"]] == ["enc_a", "enc_b"]
    assert data["rows"][0]["metrics"]["recognition.top1"] == {
        "value": 0.8, "ci_low": 0.7, "ci_high": 0.88, "n": 100, "run_id": "r-a", "seeds": 1}
    assert data["rows"][0]["metrics"]["sli_recovery.fidelity"]["run_id"] == "s-a"
    assert data["rows"][0]["runs"] == ["r-a", "s-a"] and data["rows"][0]["parameters"] == 1234567
    assert data["rows"][1]["metrics"]["sli_recovery.fidelity"] is None
    assert data["columns"][0]["higher_is_better"] is True
    assert data["datasets"][0]["synthetic"] is True

    md = render.render(board, "md")
    table = md_table(md)  # the first board: recognition on demo (one board per task family and dataset)
    assert table[0]["top-1 (%) ↑"] == "80.0★ [70.0, 88.0]"  # the best (★); a proportion: a percentage, 3 significant digits
    assert table[0]["train speed (sketches/s) ↑"] == "121" and table[1]["train speed (sketches/s) ↑"] == "—"
    sli = md_table(md[md.index("### sli_recovery"):])  # its own board: only the rows that have it
    assert [(r["encoder"], r["SLI fidelity ↑"]) for r in sli] == [("enc_a", "+0.420 [+0.400, +0.440]")]  # a ratio
    assert "SYNTHETIC" in md and "dataset 'demo' is synthetic" in md

    text = render.render(board, "table", width=0)  # no width limit: cells whole, whatever the terminal
    assert "80.0★ [70.0, 88.0]" in text and "—" in text and "enc_b" in text

    sli_only, _ = build(two_encoders, tasks=["sli_recovery"])  # parameters still come from recognition
    assert list(sli_only.frame["parameters"]) == [1234567]


def test_task_filter_shows_all_metrics_of_an_unlisted_task_with_the_recorded_direction(tmp_path):
    write(tmp_path,
          make_record("t-a", {"error": m(0.3, unit="", higher=False)}, task="toy"),
          make_record("t-b", {"error": m(0.1, unit="", higher=False)}, task="toy", encoder="enc_b"),
          make_record("t-c", {"error": m(0.2, unit="", higher=False)}, task="toy", encoder="enc_c",
                      parameters=None),
          make_record("r-a", {"top1": m(0.5)}))
    board, _ = build(tmp_path, tasks=["toy"])
    assert [(c.key, c.higher_is_better) for c in board.columns] == [("toy.error", False)]
    table = md_table(render.render(board, "md"))
    assert [(r["encoder"], r["error ↓"]) for r in table] == [("enc_b", "0.100"), ("enc_c", "0.200"), ("enc_a", "0.300")]
    # the parameters (a fact this task's board does not declare) are in the CSV, missing as empty
    rows = list(csv.DictReader(io.StringIO(render.render(board, "csv"))))
    assert [(r["encoder"], r["parameters"]) for r in rows] == [("enc_b", "1000"), ("enc_c", ""), ("enc_a", "1000")]
    with pytest.raises(BenchError, match="no run records for task 'nope'.*recognition, toy"):
        leaderboard.build(tmp_path, tasks=["nope"])


def test_sort_is_by_primary_metric_then_name_with_missing_last(tmp_path):
    write(tmp_path,
          make_record("1", {"top1": m(0.5)}, encoder="zeta"),
          make_record("2", {"top1": m(0.5)}, encoder="alpha"),
          make_record("3", {"top5": m(0.9)}, encoder="beta"),
          make_record("4", {"top1": m(0.7)}, encoder="gamma", dataset="other"),
          make_record("5", {"top1": m(0.9)}, encoder="delta"))
    board, _ = build(tmp_path)
    assert list(zip(board.frame["dataset"], board.frame["encoder"])) == [
        ("demo", "delta"), ("demo", "alpha"), ("demo", "zeta"), ("demo", "beta"), ("other", "gamma")]


def test_newest_finished_run_wins_and_all_shows_every_run(tmp_path):
    write(tmp_path,
          make_record("old", {"top1": m(0.5)}, finished="2026-01-01T10:00:00+00:00"),
          make_record("new", {"top1": m(0.7)}, finished="2026-01-03T10:00:00+00:00"),
          make_record("mid", {"top1": m(0.9)}, finished="2026-01-02T10:00:00+00:00"),
          make_record("other-cfg", {"top1": m(0.6)}, encoder_config={"depth": 6}))
    board, warnings = build(tmp_path)
    assert list(zip(board.frame["setting"], board.frame["recognition.top1 value"])) == [
        ("encoder.depth=12", 0.7), ("encoder.depth=6", 0.6)]
    assert any("2 older run(s)" in w for w in warnings)
    assert md_table(render.render(board, "md"))[0]["setting"] == "encoder.depth=12"

    everything, warnings = build(tmp_path, show_all=True)
    assert warnings == [] and everything.comparisons == []
    assert sorted(everything.frame["run_id"]) == ["mid", "new", "old", "other-cfg"]
    assert list(everything.frame["recognition.top1 value"]) == [0.9, 0.7, 0.6, 0.5]
    assert set(everything.frame["task"]) == {"recognition v1"}


def test_task_versions_are_never_mixed(tmp_path):
    write(tmp_path,
          make_record("v1-a", {"top1": m(0.9)}, finished="2026-02-01T10:00:00+00:00"),
          make_record("v10-a", {"top1": m(0.6)}, task_version="10", finished="2026-01-01T10:00:00+00:00"),
          make_record("v2-b", {"top1": m(0.8)}, task_version="2", encoder="enc_b"))
    board, warnings = build(tmp_path)
    assert list(board.frame["encoder"]) == ["enc_a"] and list(board.frame["recognition.top1 value"]) == [0.6]
    assert any("2 recognition run(s) of task version 1, 2" in w for w in warnings)
    everything, _ = build(tmp_path, show_all=True)
    assert sorted(everything.frame["task"]) == ["recognition v1", "recognition v10", "recognition v2"]


def test_corrupt_and_foreign_files_are_reported_and_skipped(tmp_path):
    write(tmp_path, make_record("good", {"top1": m(0.75, 0.6, 0.85)}))
    (tmp_path / "runs" / "broken.json").write_text('{"schema_version": 1, "run_id": ')
    (tmp_path / "runs" / "foreign.json").write_text('{"hello": "world"}')
    (tmp_path / "package.json").write_text("[1, 2]")
    result = run_bench("leaderboard", "--results", str(tmp_path), "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["encoder"], r["top-1 (fraction) ↑"]) for r in rows] == [("enc_a", "0.75")]
    for name in ("broken.json", "foreign.json"):
        assert name in result.stderr
    assert "package.json" not in result.stderr  # beside runs/ (where leaderboards go), not read
    assert "not a readable JSON file" in result.stderr and "not a run record" in result.stderr


def test_no_records_is_a_clear_error(tmp_path):
    result = run_bench("leaderboard", "--results", str(tmp_path))
    assert result.returncode == 2
    assert f"no run records in {tmp_path}/runs/*.json" in result.stderr and "bench run" in result.stderr
    result = run_bench("leaderboard", "--results", str(tmp_path / "missing"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = run_bench("leaderboard", "--results", str(tmp_path), "--format", "html")
    assert result.returncode == 2 and "--out DIR" in result.stderr


def _recognition_pair(results: Path, correct_a: list[bool], correct_b: list[bool], checksum_b=CHECKSUM):
    n = len(correct_a)
    rows_a = [{"index": i, "key_id": f"k{i}", "correct": c} for i, c in enumerate(correct_a)]
    rows_b = [{"index": i, "key_id": f"k{i}", "correct": c} for i, c in enumerate(correct_b)][::-1]
    write(results,
          make_record("a", {"top1": m(sum(correct_a) / n, 0.4, 0.95, n=n)}, artifacts=per_sketch(results, "a", rows_a)),
          make_record("b", {"top1": m(sum(correct_b) / n, 0.3, 0.8, n=n)}, encoder="enc_b", checksum=checksum_b,
                      artifacts=per_sketch(results, "b", rows_b)))


def test_mcnemar_exact_on_hand_made_per_sketch_outcomes(tmp_path):
    # a right on 0..14, b right on 0..9 and 15, 16: discordant 5 (only a) vs 2 (only b)
    _recognition_pair(tmp_path, [i < 15 for i in range(20)], [i < 10 or i in (15, 16) for i in range(20)])
    board, _ = build(tmp_path)
    (cmp,) = board.comparisons
    assert (cmp.upper_run, cmp.lower_run, cmp.test, cmp.n, cmp.discordant) == ("a", "b", "mcnemar", 20, (5, 2))
    assert cmp.p_value == pytest.approx(58 / 128)  # 2 * P(X >= 5), X ~ Binomial(7, 1/2)
    assert cmp.significant is False
    md = render.render(board, "md")
    assert "McNemar exact test on 20 paired sketches, discordant 5 vs 2, p = 0.453, Holm-adjusted 0.453 (1 test on " \
           "the board): not significant" in md
    assert md_table(md)[1]["top-1 (%) ↑"].startswith("60.0☆")  # not significantly below the best
    assert json.loads(render.render(board, "json"))["comparisons"][0]["p_value"] == pytest.approx(0.453125)


def test_mcnemar_detects_a_one_sided_difference(tmp_path):
    _recognition_pair(tmp_path, [True] * 20, [i < 10 for i in range(20)])
    (cmp,) = build(tmp_path)[0].comparisons
    assert cmp.discordant == (10, 0) and cmp.p_value == pytest.approx(2 / 1024) and cmp.significant is True


def test_runs_on_different_data_are_not_compared(tmp_path):
    _recognition_pair(tmp_path, [True] * 20, [i < 10 for i in range(20)], checksum_b="f" * 48)
    board, _ = build(tmp_path)
    assert board.comparisons == []
    assert list(board.frame["dataset"]) == ["demo (c0ffeec0)", "demo (ffffffff)"]
    assert list(board.frame["setting"]) == ["", ""]


def test_missing_per_sketch_file_is_reported_not_fatal(tmp_path):
    _recognition_pair(tmp_path, [i < 15 for i in range(20)], [i < 12 for i in range(20)])
    (tmp_path / "runs" / "b" / "per_sketch.jsonl").unlink()
    (cmp,) = build(tmp_path)[0].comparisons
    assert cmp.p_value is None and "cannot read b/per_sketch.jsonl" in cmp.reason
    assert "not tested (cannot read b/per_sketch.jsonl" in render.render(build(tmp_path)[0], "md")


def test_permutation_test_on_sli_fidelity_tests_the_ranked_ratio(tmp_path):
    """Fidelity is ranked as a ratio of means; its close call tests that same ratio (not the
    per-sketch fidelities), exactly enough to match full enumeration of the 2^8 swaps."""
    before = [0.4, 0.3, 0.5, 0.2, 0.6, 0.35, 0.45, 0.25]
    after_a = [b * 0.5 for b in before]
    after_b = [b * (0.55 + 0.02 * i) for i, b in enumerate(before)]
    rows = lambda after: [{"index": i, "location_error_before": b, "location_error_after": a,  # noqa: E731
                           "location_error_reduction": b - a} for i, (b, a) in enumerate(zip(before, after))]
    rows_a, rows_b = rows(after_a), rows(after_b)
    rows_a.append({"index": 8, "location_error_before": 0.0, "location_error_after": 0.0,
                   "location_error_reduction": None})  # nothing to recover: left out in both runs
    rows_b.append({**rows_a[-1]})
    fid = lambda after: 1 - sum(after) / sum(before)  # noqa: E731
    write(tmp_path,
          make_record("sa", {"fidelity": m(fid(after_a), 0.4, 0.6, n=8)}, task="sli_recovery",
                      artifacts=per_sketch(tmp_path, "sa", rows_a)),
          make_record("sb", {"fidelity": m(fid(after_b), 0.3, 0.55, n=8)}, task="sli_recovery", encoder="enc_b",
                      artifacts=per_sketch(tmp_path, "sb", rows_b)))
    (cmp,) = build(tmp_path)[0].comparisons
    assert (cmp.test, cmp.n) == ("permutation", 8)
    assert cmp.statistic == pytest.approx(fid(after_a) - fid(after_b))  # the ranked values' difference
    red_a, red_b = np.subtract(before, after_a), np.subtract(before, after_b)
    exact = []
    for swaps in itertools.product([False, True], repeat=8):
        s_ = np.array(swaps)
        ra, rb = np.where(s_, red_b, red_a), np.where(s_, red_a, red_b)
        exact.append(abs(ra.sum() - rb.sum()) / sum(before) >= abs(cmp.statistic) * (1 - 1e-12))
    assert cmp.p_value == pytest.approx(np.mean(exact), abs=0.01)
    assert cmp.significant is True and "paired permutation test on 8 paired sketches" in cmp.sentence()


def test_transfer_runs_with_other_targets_are_not_paired(tmp_path):
    rows = lambda targets: [{"index": i, "key_id": None, "target": t, "success": i % 2 == 0}  # noqa: E731
                            for i, t in enumerate(targets)]
    write(tmp_path,
          make_record("ta", {"success_rate": m(0.5, 0.3, 0.7)}, task="sli_transfer",
                      artifacts=per_sketch(tmp_path, "ta", rows([1, 0, 1, 0]))),
          make_record("tb", {"success_rate": m(0.5, 0.3, 0.7)}, task="sli_transfer", encoder="enc_b",
                      artifacts=per_sketch(tmp_path, "tb", rows([1, 0, 1, 1]))))
    (cmp,) = build(tmp_path)[0].comparisons
    assert cmp.p_value is None and cmp.reason == "the runs differ in target for some sketches"


def test_html_report_escapes_record_text_and_copies_galleries(tmp_path):
    results, out = tmp_path / "results", tmp_path / "report"
    evil = '<script>alert("x")</script>'
    gallery = results / "runs" / "s<i>1" / "gallery"
    gallery.mkdir(parents=True)
    (gallery / "index.html").write_text("<html>gallery</html>")
    (gallery / "sketch_0.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("secret")
    (gallery / "link.svg").symlink_to(tmp_path / "secret.txt")
    write(results,
          make_record("r1", {"top1": m(0.5)}, encoder=evil, plugin="<b>plug</b>", notes=["<img src=x onerror=y>"]),
          make_record("s<i>1", {"fidelity": m(0.4)}, task="sli_recovery", encoder=evil, plugin="<b>plug</b>",
                      encoder_config={"depth": 12}, artifacts={"gallery": "s<i>1/gallery/index.html"}))
    result = run_bench("leaderboard", "--results", str(results), "--format", "html", "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = (out / "index.html").read_text()
    for raw in (evil, "<b>plug</b>", "<img src=x", "<i>"):
        assert raw not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page and "&lt;b&gt;plug&lt;/b&gt;" in page
    assert "&amp;lt;" not in page and "&amp;#34;" not in page  # escaped once, by the templates
    copied = out / "galleries" / "s_i_1"
    assert (copied / "index.html").read_text() == "<html>gallery</html>" and (copied / "sketch_0.svg").is_file()
    assert not (copied / "link.svg").exists()
    assert 'href="galleries/s_i_1/index.html"' in page and "&#34;depth&#34;: 12" in page

    again = run_bench("leaderboard", "--results", str(results), "--format", "html", "--out", str(out))
    assert again.returncode == 0 and (out / "index.html").read_text() == page
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("keep me")
    refused = run_bench("leaderboard", "--results", str(results), "--out", str(tmp_path / "busy"))
    assert refused.returncode == 2 and "not an empty folder or an earlier report" in refused.stderr
    assert (tmp_path / "busy" / "thesis.tex").read_text() == "keep me"


def test_markdown_escapes_table_syntax(tmp_path):
    write(tmp_path, make_record("r", {"top1": m(0.5)}, encoder="a|b", plugin="x\ny"))
    (row,) = md_table(render.render(build(tmp_path)[0], "md"))
    assert row["encoder"] == "a\\|b"
    assert render._md("x\ny") == "x y"  # a newline (the plugin's name here) never breaks a table row


def test_regeneration_is_byte_for_byte_stable(two_encoders, tmp_path):
    first, second = build(two_encoders)[0], build(two_encoders)[0]
    for fmt in ("table", "md", "csv", "json"):
        assert render.render(first, fmt) == render.render(second, fmt)
    write_report(first, tmp_path / "h1")
    write_report(second, tmp_path / "h2")
    assert (tmp_path / "h1" / "index.html").read_bytes() == (tmp_path / "h2" / "index.html").read_bytes()


def test_publish_regenerates_committed_leaderboards(tmp_path):
    results = tmp_path / "results"
    write(results / "demo", make_record("d", {"top1": m(0.5, 0.4, 0.6)}))
    write(results / "quickdraw30", make_record("q", {"top1": m(0.25, 0.2, 0.3)}, dataset="quickdraw30"))
    assert publish.main(["--results", str(results), "--check"]) == 1
    assert publish.main(["--results", str(results)]) == 0
    md = (results / "demo" / "LEADERBOARD.md").read_text()
    cli = run_bench("leaderboard", "--results", str(results / "demo"), "--format", "md")
    assert cli.stdout == md and md_table(md)[0]["top-1 (%) ↑"] == "50.0 [40.0, 60.0]"
    assert (results / "quickdraw30" / "leaderboard.csv").is_file()
    assert publish.main(["--results", str(results), "--check"]) == 0
    write(results / "demo", make_record("d2", {"top1": m(0.6)}, finished="2026-03-01T00:00:00+00:00"))
    assert publish.publish(results, check=True) == [results / "demo" / name for name in publish.OUTPUTS]


def test_a_run_its_record_says_not_to_rank_is_marked_and_compared_with_nothing(tmp_path):
    """A record's ``extra.unranked`` (an invalid pointing set, a classifier at chance): its cells are
    marked, the reason is printed under the table, and no close call involves it."""
    _recognition_pair(tmp_path, [i < 15 for i in range(20)], [i < 10 or i in (15, 16) for i in range(20)])
    path = tmp_path / "runs" / "b.json"
    record = json.loads(path.read_text())
    record["extra"]["unranked"] = ["pointing set invalid: a model-blind heuristic separates distractors"]
    path.write_text(json.dumps(record))
    board, _ = build(tmp_path)
    assert board.comparisons == []  # without the mark, a vs b is a close call (the test above)
    text = render.render(board, "md")
    rows = {r["encoder"]: r for r in md_table(text)}
    column = next(k for k in rows["enc_a"] if k.startswith("top-1"))
    assert rows["enc_b"][column].endswith(render.NOT_RANKED) and not rows["enc_a"][column].endswith(render.NOT_RANKED)
    assert f"{render.NOT_RANKED} recognition: pointing set invalid: a model-blind heuristic separates distractors" in text


def test_publish_check_fails_when_a_folder_cannot_render(tmp_path, monkeypatch, capsys):
    from benchmark.report import html

    results = tmp_path / "results"
    write(results / "demo", make_record("d", {"top1": m(0.5, 0.4, 0.6)}))
    write(results / "nested" / "demo", make_record("e", {"top1": m(0.5, 0.4, 0.6)}))
    assert publish.collections(results) == [results / "demo", results / "nested" / "demo"]
    assert publish.main(["--results", str(results)]) == 0
    assert publish.main(["--results", str(results), "--check"]) == 0

    def broken(*args, **kwargs):
        raise KeyError("explainer")

    monkeypatch.setattr(html, "page", broken)
    capsys.readouterr()
    assert publish.main(["--results", str(results), "--check"]) == 1
    err = capsys.readouterr().err
    assert f"{results / 'demo'}: the HTML report cannot be rendered (KeyError: 'explainer')" in err
