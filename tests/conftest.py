"""Shared fixtures: the repository root, the real QuickDraw sample, a CLI runner, test plugins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY_PLUGIN = ROOT / "tests" / "plugins" / "tiny_data.py"


def pytest_configure(config):
    """One torch thread in each pytest-xdist worker: the workers share the cores, and two workers
    each spinning two OpenMP threads on two cores make a 0.3 s test take 40 s."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def quickdraw_dir() -> Path:
    """The real QuickDraw sample (``BENCH_QUICKDRAW_DIR``, default ``../shared/quickdraw``)."""
    path = Path(os.environ.get("BENCH_QUICKDRAW_DIR", ROOT.parent / "shared" / "quickdraw"))
    if not (path / "full" / "simplified").is_dir():
        pytest.skip(f"real QuickDraw sample not found at {path} (set BENCH_QUICKDRAW_DIR to its folder)")
    return path


@pytest.fixture(autouse=True)
def _isolated_plugins(monkeypatch, tmp_path_factory):
    """Every test starts with a fresh plugin manager and a private cache folder."""
    from benchmark import plugins

    monkeypatch.delenv("BENCH_PLUGINS", raising=False)
    monkeypatch.delenv("BENCH_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("BENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    plugins.reset()
    yield
    plugins.reset()


def run_bench(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600,
              python: str = sys.executable) -> subprocess.CompletedProcess:
    """``python -m benchmark ARGS`` in a subprocess (the real CLI, a fresh interpreter)."""
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("PYTHONPATH", str(ROOT))
    return subprocess.run([python, "-m", "benchmark", *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd or ROOT, timeout=timeout)


def bench_here(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``bench ARGS`` in this interpreter (``benchmark.cli.main``, cwd ``cwd``, stdout and stderr captured),
    for commands that only plan or read (``--dry-run``, ``list``, ``leaderboard``): the same code as
    :func:`run_bench` without a fresh interpreter's imports (torch, transformers: seconds a call)."""
    import contextlib
    import io

    from benchmark.cli import main

    out, err, before = io.StringIO(), io.StringIO(), Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse: --help, a usage error
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["bench", *args], code, out.getvalue(), err.getvalue())
