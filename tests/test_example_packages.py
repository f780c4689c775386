"""The example plugin packages under ``plugins/``, pip-installed (real wheel builds) as a user would:
an explainer (``location_gradient``) and a task on the trained classifier (``order_reliance``), run
through the whole harness beside the built-ins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, TINY_PLUGIN, run_bench

PACKAGES = {"bench_location_gradient": ROOT / "plugins" / "sketchxai-bench-location-gradient",
            "bench_order_reliance": ROOT / "plugins" / "sketchxai-bench-order-reliance"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), *map(str, PACKAGES.values())], check=True, capture_output=True, text=True)
    assert all((target / module).is_dir() for module in PACKAGES)
    return target


def _env(site: Path) -> dict:
    return {"PYTHONPATH": f"{site}:{ROOT}"}


def test_the_examples_are_listed_with_their_plugin(site):
    explainers = {r["name"]: r for r in json.loads(run_bench("list", "explainers", "--json", env=_env(site)).stdout)}
    assert explainers["location_gradient"]["plugin"] == "location_gradient"
    assert explainers["location_gradient"]["requires"] == ["gradients"]
    tasks = {r["name"]: r for r in json.loads(run_bench("list", "tasks", "--json", env=_env(site)).stdout)}
    assert tasks["order_reliance"]["plugin"] == "order_reliance"
    planned = run_bench("run", "--explainer", "location_gradient", "--dry-run", env=_env(site))
    assert planned.returncode == 0, planned.stderr
    assert "would run stroke_pointing · stroke_vit_tiny · demo · seed 0 · explainer location_gradient" in planned.stdout


def test_the_example_task_and_explainer_run_on_the_trained_classifier(site, tmp_path):
    done = run_bench("--plugin", str(TINY_PLUGIN), "run", "--task", "order_reliance", "--task", "stroke_pointing",
                     "--explainer", "location_gradient", "--encoder", "stroke_vit_tiny", "--data", "tiny",
                     "--set", "encoder.num_layers=1", "--set", "recognition.epochs=1", "--threads", "1",
                     "--results", str(tmp_path), env=_env(site))
    assert done.returncode == 0, done.stderr
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "runs").glob("*.json"))]
    by_task = {}
    for record in records:
        by_task.setdefault(record["task"]["name"], []).append(record)
    assert set(by_task) == {"recognition", "order_reliance", "stroke_pointing"}  # the classifier trained first
    (order,) = by_task["order_reliance"]
    reliance = order["metrics"]["order_reliance"]
    assert order["task"]["plugin"] == "order_reliance" and reliance["ci_low"] <= reliance["value"] <= reliance["ci_high"]
    assert order["encoder"]["config_source"].startswith("checkpoint")  # the trained classifier, not fresh weights
    explained = {r["task"]["row_keys"]["explainer"]: r for r in by_task["stroke_pointing"]}
    assert {"location_gradient", "random", "stroke_length"} <= set(explained)
    assert explained["location_gradient"]["extra"]["explainer_plugin"] == "location_gradient"
    assert "-location_gradient-" in explained["location_gradient"]["run_id"]  # the record's file name says it
