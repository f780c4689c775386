"""The record contracts behind the report's pictures (curves, thumbnails), the fixed-canvas SLI
pictures with their off-canvas marks, and how the report draws them."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from benchmark.report.leaderboard import build
from benchmark.report.html import write_report
from tasks.sli.pictures import VIEW, SketchPicture, off_canvas, sketch_svg, target_probability_curve, thumbnail_strip
from test_leaderboard import m, make_record, write

SQUARE = np.array([[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]])


def picture(result: np.ndarray, title: str = "#1: house") -> SketchPicture:
    original = np.array([[-0.5, -0.5], [0.3, 0.1]])
    trajectory = np.stack([original * 0.1, (original + result) / 2, result])
    return SketchPicture(1, title, [SQUARE, SQUARE], original, trajectory)


def test_pictures_keep_one_canvas_and_mark_strokes_that_left_it():
    far = np.array([[-0.5, -0.5], [5.0, 0.3]])  # the second stroke flew ~5 units away
    svg = sketch_svg([SQUARE, SQUARE], far, VIEW, "t")
    root = ET.fromstring(svg)
    assert root.get("viewBox") == " ".join(map(str, VIEW))  # not widened to 5 units
    assert off_canvas([SQUARE, SQUARE], far) == [1]
    marks = [p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("d", "").endswith("Z")]
    assert len(marks) == 1
    tip = [float(v) for v in re.findall(r"-?\d+", marks[0].get("d"))[:2]]
    assert VIEW[0] < tip[0] <= VIEW[0] + VIEW[2] and tip[0] > 900  # on the right edge, toward the stroke
    assert "1 stroke off canvas" in svg
    inside = sketch_svg([SQUARE, SQUARE], np.array([[-0.5, -0.5], [0.3, 0.1]]), VIEW, "t")
    assert "off canvas" not in inside


@pytest.mark.parametrize("count", [1, 3, 5])
def test_thumbnail_strip_follows_the_contract(count):
    svg = thumbnail_strip([picture(np.array([[0.0, 0.0], [9.0, 9.0]]), f"#{i}: <b>") for i in range(count)],
                          True, "strip")
    root = ET.fromstring(svg)
    width, height = int(root.get("width")), int(root.get("height"))
    assert width <= 720 and height <= 120 and root.get("viewBox") == f"0 0 {width} {height}"
    panels = [el for el in root if el.tag.endswith("svg")]
    assert len(panels) == 2 * min(count, 3)
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_target_probability_curve_is_the_mean_with_its_interval():
    rng = np.random.default_rng(0)
    p = np.clip(rng.uniform(0, 1, (40, 1)) + np.linspace(0, 0.5, 11)[None], 0, 1)
    curve = target_probability_curve(p, seed=1, title="t", y_label="p")
    assert curve["x"] == [float(i) for i in range(11)]
    assert curve["y"] == pytest.approx(p.mean(0).tolist())
    assert all(lo <= y <= hi for lo, y, hi in zip(curve["lo"], curve["y"], curve["hi"]))
    assert all(hi - lo > 0.02 for lo, hi in zip(curve["lo"], curve["hi"]))
    json.dumps(curve, allow_nan=False)


def test_report_plots_one_line_per_row_and_skips_a_bad_curve(tmp_path):
    results = tmp_path / "results"
    curve = {"x": [0, 1, 2], "y": [0.1, 0.5, 0.9], "lo": [0.0, 0.4, 0.8], "hi": [0.2, 0.6, 1.0],
             "x_label": "SLI step", "y_label": "p", "title": "mean <p>"}
    bad = {**curve, "y": [0.1, 0.2]}
    records = [make_record(rid, {"fidelity": m(0.1 * i)}, task="sli_recovery", encoder=enc) for i, (rid, enc) in
               enumerate([("a", "enc_a"), ("b", "enc_b"), ("c", "enc_c")])]
    for record, c in zip(records, (curve, curve, bad)):
        record["extra"]["curves"] = {"sli_target_probability": c}
    strip = results / "runs" / "a" / "thumbnails.svg"
    strip.parent.mkdir(parents=True)
    strip.write_text(thumbnail_strip([picture(np.zeros((2, 2)))], True, "s"))
    records[0]["artifacts"]["thumbnails"] = "a/thumbnails.svg"
    (tmp_path / "outside.svg").write_text("<svg/>")
    records[1]["artifacts"]["thumbnails"] = "../../outside.svg"
    write(results, *records)
    warnings: list[str] = []
    board = build(results)
    page = write_report(board, tmp_path / "report", warn=warnings.append).read_text()
    plot = re.search(r'<figure class="plot">(.*?)</figure>', page, flags=re.DOTALL).group(1)
    assert plot.count("<polyline") == 2 and plot.count("<polygon") == 2  # enc_c's curve is malformed
    assert "mean &lt;p&gt;" in plot and "enc_a" in plot and "enc_c" not in plot
    assert any("curve 'sli_target_probability' is not" in w for w in warnings)
    assert any("thumbnails '../../outside.svg'" in w for w in warnings)
    assert page.count('class="strip"') == 1 and (tmp_path / "report" / "galleries" / "a" / "thumbnails.svg").is_file()


def _pointing_records(curve: dict | None, version: str = "3") -> list[dict]:
    """Two stroke_pointing runs (encoder x explainer rows), each with ``curve`` as its ROC."""
    records = []
    for rid, explainer in (("p1", "occlusion"), ("p2", '<script>alert("x")</script>')):
        record = make_record(rid, {"pointing_auroc": m(0.6, 0.5, 0.7)}, task="stroke_pointing", encoder="enc_vit",
                             task_version=version, dataset="demo_distractors")
        record["task"]["row_keys"] = {"explainer": explainer}
        record["extra"]["curves"] = {"pointing_roc": curve} if curve else {}
        records.append(record)
    return records


def test_the_report_draws_the_pointing_roc_with_its_chance_line_and_names_encoder_and_explainer(tmp_path):
    from tasks.attribution import StrokePointing
    from tasks.attribution.pictures import mean_roc

    roc = mean_roc([([0.9, 0.1, 0.5, 0.2], [1, 0, 1, 0]), ([0.2, 0.3, 0.1], [1, 0, 0])], 0,
                   StrokePointing.curves["pointing_roc"])
    write(tmp_path / "results", *_pointing_records(roc))
    page = write_report(build(tmp_path / "results"), tmp_path / "report").read_text()
    plot = re.search(r'<figure class="plot">(.*?)</figure>', page, flags=re.DOTALL).group(1)
    assert "<title>Stroke pointing ROC: evidence vs distractor strokes</title>" in plot
    assert plot.count("<polyline") == 3 and plot.count('class="reference"') == 1  # two runs and the chance line
    chance = re.search(r'class="reference" points="([^"]+)"', plot).group(1).split()
    assert chance == ["52.0,256.0", "548.0,28.0"]  # (0, 0) to (1, 1): the plot's corners
    assert "enc_vit · occlusion" in plot and "enc_vit · &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in plot
    assert '<script>alert("x")</script>' not in page and "&amp;lt;" not in page
    assert "chance" in plot and "averaged over 2 sketches" in plot and "not pooled" in plot
    assert "Not in these records" not in page


def test_the_report_says_where_pointing_records_predate_the_roc(tmp_path):
    write(tmp_path / "old", *_pointing_records(None, version="2"))
    page = write_report(build(tmp_path / "old"), tmp_path / "report").read_text()
    absent = re.search(r'<figure class="plot absent">(.*?)</figure>', page, flags=re.DOTALL).group(1)
    assert "Stroke pointing ROC" in absent and "task version 2, older than this picture" in absent
    assert "version 3 records it (extra.curves.pointing_roc): re-run stroke_pointing" in absent
    assert '<figure class="plot">' not in page
    # records of the current version without the curve (no sketch with both kinds of strokes): nothing to say
    write(tmp_path / "new", *_pointing_records(None, version="3"))
    assert "plot absent" not in write_report(build(tmp_path / "new"), tmp_path / "report2").read_text()


def test_plot_legends_name_the_preset_and_a_preset_has_its_own_dash(tmp_path):
    curve = {"x": [0, 1, 2], "y": [0.1, 0.5, 0.9], "lo": [0.0, 0.4, 0.8], "hi": [0.2, 0.6, 1.0],
             "x_label": "SLI step", "y_label": "p", "title": "t"}
    records = []
    for rid, preset in (("a", "published"), ("b", "bounded")):
        record = make_record(rid, {"fidelity": m(0.4)}, task="sli_recovery", task_version="3")
        record["task"]["variant"] = {"preset": preset}
        record["extra"]["curves"] = {"sli_target_probability": curve}
        records.append(record)
    write(tmp_path / "results", *records)
    page = write_report(build(tmp_path / "results"), tmp_path / "report").read_text()
    key = re.search(r'<figcaption class="key">(.*?)</figcaption>', page, flags=re.DOTALL).group(1)
    assert "enc_a (bounded)" in key and "enc_a (published)" in key
    assert page.count('stroke-dasharray="6 3"') == 1 and "border-top-style:dashed" in key  # one row, two presets


def _local_fidelity_records(control: bool) -> list[dict]:
    """Two sli_recovery runs (two encoders) carrying the ``sli_local_fidelity`` curve, with the
    random-weights control line or (records before it) without."""
    from tasks.sli.run import by_noise_curve

    rng = np.random.default_rng(0)
    records = []
    for rid, encoder, shift in (("l1", "enc_a", 0.5), ("l2", "enc_b", 0.2)):
        cosines, controls = rng.normal(shift, 0.2, (30, 4)), rng.normal(0.0, 0.2, (30, 4))
        curve = by_noise_curve("sli_local_fidelity", cosines, [0.05, 0.1, 0.2, 0.4], 0, "sli_recovery: local fidelity by start noise",
                                     controls if control else None)
        assert ("control" in curve) == control
        record = make_record(rid, {"local_fidelity": m(shift)}, task="sli_recovery", encoder=encoder, task_version="4")
        record["task"]["variant"] = {"preset": "published"}
        record["extra"]["curves"] = {"sli_local_fidelity": curve}
        records.append(record)
    return records


def test_the_local_fidelity_plot_draws_each_runs_random_weights_control(tmp_path):
    records = _local_fidelity_records(control=True)
    control = records[0]["extra"]["curves"]["sli_local_fidelity"]["control"]
    assert control["label"] == "random-weights control" and len(control["y"]) == 4
    assert all(lo <= y <= hi for lo, y, hi in zip(control["lo"], control["y"], control["hi"]))
    json.dumps(control, allow_nan=False)
    write(tmp_path / "results", *records)
    page = write_report(build(tmp_path / "results"), tmp_path / "report").read_text()
    plot = re.search(r'<figure class="plot">(.*?)</figure>', page, flags=re.DOTALL).group(1)
    assert "<title>sli_recovery: local fidelity by start noise</title>" in plot
    # two runs, each with its control line, and the chance line
    assert plot.count("<polyline") == 5 and plot.count('<polyline class="control"') == 2
    assert plot.count('class="reference"') == 1
    key = re.search(r'<figcaption class="key">(.*?)</figcaption>', plot, flags=re.DOTALL).group(1)
    assert "enc_a (published): random-weights control" in key and "enc_b (published): random-weights control" in key
    assert "predate the control line" not in page


def test_the_local_fidelity_plot_says_where_records_predate_the_control_line(tmp_path):
    new, old = _local_fidelity_records(control=True)[0], _local_fidelity_records(control=False)[1]
    write(tmp_path / "results", new, old)
    page = write_report(build(tmp_path / "results"), tmp_path / "report").read_text()
    plot = re.search(r'<figure class="plot">(.*?)</figure>', page, flags=re.DOTALL).group(1)
    assert plot.count('<polyline class="control"') == 1
    assert ("No random-weights control line for enc_b (published): the records predate the control line; "
            "re-run sli_recovery to draw it.") in plot
    # a malformed control is left out, the run's own line still drawn
    old["extra"]["curves"]["sli_local_fidelity"]["control"] = {"y": [0.1], "lo": [0.0], "hi": [0.2], "label": "x"}
    write(tmp_path / "bad", new, old)
    plot = re.search(r'<figure class="plot">(.*?)</figure>', write_report(build(tmp_path / "bad"), tmp_path / "r2")
                     .read_text(), flags=re.DOTALL).group(1)
    assert plot.count("<polyline") == 4 and "records predate the control line" in plot
