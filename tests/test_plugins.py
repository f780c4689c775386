"""Plugin discovery: built-ins, real installed entry points, one-file plugins, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TINY_PLUGIN, run_bench

from benchmark.errors import BenchError, PluginError
from benchmark.plugins import Manager

PLUGINS = ROOT / "tests" / "plugins"
EXAMPLE = ROOT / "plugins" / "sketchxai-bench-stroke-bag"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> Path:
    """The example plugin package pip-installed (a real wheel build) into an isolated target folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE)], check=True, capture_output=True, text=True)
    assert (target / "bench_stroke_bag").is_dir()
    return target


def _env(site: Path | None = None, **extra) -> dict:
    paths = [str(site)] if site else []
    return {"PYTHONPATH": ":".join([*paths, str(ROOT)]), **extra}


def test_builtins_register_through_hooks():
    manager = Manager(autoload=False)
    assert {"stroke_vit_tiny", "stroke_vit_base"} <= set(manager.encoders)
    assert "recognition" in manager.tasks
    assert "demo" in manager.datasets
    assert all(manager.plugins[m].source == "builtin" for m in ("encoders", "tasks", "benchmark.data.plugin"))
    assert manager.entry("encoder", "stroke_vit_tiny").plugin == "encoders"


def test_entry_point_plugin_is_listed_and_runs(installed_example, tmp_path):
    listed = run_bench("list", "encoders", "--json", env=_env(installed_example))
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["stroke_bag"]["plugin"] == "stroke_bag"
    assert rows["stroke_bag"]["plugin_version"] == "0.1.0"
    assert rows["stroke_bag"]["capabilities"] == ["sli"]
    assert "stroke_vit_tiny" in rows

    plugins = json.loads(run_bench("list", "plugins", "--json", env=_env(installed_example)).stdout)
    assert {"name": "stroke_bag", "source": "entrypoint", "status": "ok"}.items() <= \
        {k: v for p in plugins if p["name"] == "stroke_bag" for k, v in p.items()}.items()

    # registering an encoder is enough for the whole benchmark: every default task plans for it
    planned = run_bench("run", "--encoder", "stroke_bag", "--dry-run", env=_env(installed_example))
    assert planned.returncode == 0, planned.stderr
    for task in ("recognition", "location_reliance", "sli_recovery", "sli_transfer", "stroke_deletion",
                 "stroke_pointing", "sanity_randomisation"):
        assert f"would run {task} · stroke_bag · demo" in planned.stdout, task
    assert "explainer stroke_length" in planned.stdout and "skipped" not in planned.stdout

    ran = run_bench("--plugin", str(TINY_PLUGIN), "run", "--task", "recognition", "--encoder", "stroke_bag", "--data", "tiny",
                    "--set", "epochs=1", "--results", str(tmp_path), env=_env(installed_example))
    assert ran.returncode == 0, ran.stderr
    record = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert record["encoder"]["plugin"] == "stroke_bag"
    assert record["versions"]["plugins"]["stroke_bag"] == "0.1.0"


def test_autoload_off_hides_entry_points(installed_example):
    listed = run_bench("list", "encoders", "--json", env=_env(installed_example, BENCH_DISABLE_PLUGIN_AUTOLOAD="1"))
    names = [r["name"] for r in json.loads(listed.stdout)]
    assert "stroke_bag" not in names and "stroke_vit_tiny" in names


def test_file_plugins_from_option_and_environment(monkeypatch):
    assert "tiny" in Manager((str(TINY_PLUGIN),), autoload=False).datasets
    monkeypatch.setenv("BENCH_PLUGINS", str(TINY_PLUGIN))
    manager = Manager(autoload=False)
    assert "tiny" in manager.datasets
    assert manager.plugins["tiny_data"].source == "env"


def test_name_clash_fails_naming_both_plugins():
    manager = Manager((str(PLUGINS / "clash_a.py"), str(PLUGINS / "clash_b.py")), autoload=False)
    with pytest.raises(PluginError, match=r"'twin' is registered by two plugins: 'clash_a' .* and 'clash_b'"):
        manager.encoders
    cli = run_bench("--plugin", str(PLUGINS / "clash_a.py"), "--plugin", str(PLUGINS / "clash_b.py"),
                    "list", "encoders", env=_env())
    assert cli.returncode == 2
    assert "clash_a" in cli.stderr and "clash_b" in cli.stderr and "Traceback" not in cli.stderr


@pytest.mark.parametrize("plugin, message", [
    ("broken_import.py", "failed to import: ModuleNotFoundError"),
    ("misspelt_hook.py", "unknown hook 'bench_register_encoder'; did you mean bench_register_encoders?"),
    ("wrong_registration.py", "registered 'not a class' as a encoder, but it is not a subclass of benchmark.Encoder"),
])
def test_broken_plugin_is_listed_while_the_rest_works(plugin, message):
    path = str(PLUGINS / plugin)
    manager = Manager((path,), autoload=False)
    assert "stroke_vit_tiny" in manager.encoders
    info = manager.plugins[Path(plugin).stem]
    assert info.status == "broken" and message in info.error

    listed = run_bench("--plugin", path, "list", "plugins", "--json", env=_env())
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout) if r["name"] == Path(plugin).stem)
    assert row["status"] == "broken" and message in row["error"]
    assert run_bench("--plugin", path, "list", "encoders", env=_env()).returncode == 0


def test_unknown_names_suggest_close_ones():
    manager = Manager(autoload=False)
    with pytest.raises(BenchError, match="unknown encoder 'stroke_vit_tiy'; did you mean: stroke_vit_tiny"):
        manager.encoder("stroke_vit_tiy")
    with pytest.raises(BenchError, match="did you mean: recognition"):
        manager.task("recogniton")
    cli = run_bench("run", "--encoder", "stroke_vit_tiy", env=_env())
    assert cli.returncode == 2
    assert "did you mean: stroke_vit_tiny" in cli.stderr and "Traceback" not in cli.stderr


def test_list_is_fast_and_does_not_import_torch():
    code = ("import sys; from benchmark.cli import main; main(['list', 'encoders']); main(['list', 'tasks']);"
            "main(['list', 'datasets']); bad = [m for m in ('torch', 'transformers') if m in sys.modules];"
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**_env()}, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_list_filters_with_shell_patterns():
    listed = run_bench("list", "encoders", "*vit*", "--json", env=_env())
    names = [r["name"] for r in json.loads(listed.stdout)]
    assert names and all("vit" in n for n in names)
