"""The README's multi-node ``torchrun`` command, for real: two launchers (``--nnodes 2
--nproc-per-node 1 --rdzv-backend c10d``) on loopback give the same per-sketch outputs and
metrics as one process and one record; killing one node mid-training stops the other in bounded
time with a one-line message and no record."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY_PLUGIN, run_bench

EXAMPLE_DIR = ROOT / "plugins" / "sketchxai-bench-stroke-bag"
PLUGINS = ("--plugin", str(TINY_PLUGIN), "--plugin", "bench_stroke_bag")
ENV = {"PYTHONPATH": f"{ROOT}:{EXAMPLE_DIR}", "OMP_NUM_THREADS": "1"}
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
EXACT = ("top1", "top5", "test_loss")

pytestmark = pytest.mark.skipif(TORCHRUN is None, reason="torchrun not installed")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(port: int, log: Path, *args: str) -> subprocess.Popen:
    """One node: its own torchrun launcher, output to ``log`` (files, not pipes: nothing can block)."""
    cmd = [TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
           "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"test{port}", "--max-restarts", "0",
           "-m", "benchmark", *PLUGINS, "run", *args]
    with open(log, "w") as fh:
        return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **ENV}, stdout=fh, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)


def _wait_listening(port: int, node: subprocess.Popen, timeout: float = 60) -> None:
    """Until the first node hosts the rendezvous store on ``port`` (so the second joins it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and node.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)


def _start_two(port: int, folder: Path, *args: str) -> list[subprocess.Popen]:
    folder.mkdir(parents=True, exist_ok=True)
    first = _node(port, folder / "node0.log", *args)
    _wait_listening(port, first)
    return [first, _node(port, folder / "node1.log", *args)]


def _two_nodes(folder: Path, *args: str, timeout: float = 120) -> list[tuple[int, str]]:
    nodes = _start_two(_port(), folder, *args)
    out = []
    try:
        for i, node in enumerate(nodes):
            node.wait(timeout=timeout)
            out.append((node.returncode, (folder / f"node{i}.log").read_text()))
    finally:
        for node in nodes:
            if node.poll() is None:
                _kill_node(node)
    return out


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (torchrun starts its workers in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _kill_node(node: subprocess.Popen) -> None:
    """SIGKILL the launcher and every process under it: the node is gone, as a crashed machine."""
    for pid in _tree(node.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*.json"))]


def _per_sketch(record: dict, results: Path) -> str:
    return (results / "runs" / record["artifacts"]["per_sketch"]).read_text()


@pytest.mark.slow
def test_two_torchrun_nodes_match_one_process(tmp_path):
    # lr 3e-4: the tolerance on the loss below is float summation order at this step size
    args = ["--task", "recognition", "--data", "tiny", "--encoder", "stroke_bag", "--set", "epochs=1", "--set", "lr=3e-4", "--threads", "1",
            "--seed", "5"]
    one = tmp_path / "one"
    done = run_bench(*PLUGINS, "run", *args, "--results", str(one), env=ENV)
    assert done.returncode == 0, done.stderr
    (single,) = _records(one)
    checkpoint = one / "runs" / single["artifacts"]["checkpoint"]

    # evaluation of a trained classifier: exactly the same per-sketch outputs and metrics
    two = tmp_path / "two"
    for rc, err in _two_nodes(tmp_path / "logs-eval", *args, "--checkpoint", str(checkpoint), "--results", str(two)):
        assert rc == 0, err
    (record,) = _records(two)
    assert record["world_size"] == 2 and record["host"]["backend"] == "gloo"
    ref = tmp_path / "ref"
    done = run_bench(*PLUGINS, "run", *args, "--checkpoint", str(checkpoint), "--results", str(ref), env=ENV)
    assert done.returncode == 0, done.stderr
    (reference,) = _records(ref)
    assert _per_sketch(record, two) == _per_sketch(reference, ref)
    assert {k: record["metrics"][k] for k in EXACT} == {k: reference["metrics"][k] for k in EXACT}
    assert reference["metrics"]["top1"] == single["metrics"]["top1"]

    # training across the two nodes: one record, same metrics as the one-process run
    trained = tmp_path / "trained"
    for rc, err in _two_nodes(tmp_path / "logs-train", *args, "--results", str(trained)):
        assert rc == 0, err
    (record,) = _records(trained)
    assert record["world_size"] == 2 and record["extra"]["train_samples_seen"] == single["extra"]["train_samples_seen"]
    for name in ("top1", "top5", "valid_top1"):
        assert record["metrics"][name]["value"] == single["metrics"][name]["value"], name
    assert record["metrics"]["test_loss"]["value"] == pytest.approx(single["metrics"]["test_loss"]["value"], rel=1e-4)


@pytest.mark.slow
def test_killing_one_node_stops_the_other_with_a_message(tmp_path):
    args = ["--task", "recognition", "--data", "tiny", "--encoder", "stroke_bag", "--set", "epochs=100000", "--threads", "1",
            "--results", str(tmp_path / "results")]
    first, second = _start_two(_port(), tmp_path / "logs", *args)
    try:
        deadline = time.monotonic() + 120
        while not list((tmp_path / "results" / "runs").glob("*/state/train.pt")):  # an epoch finished: mid-training
            assert first.poll() is None and second.poll() is None, (tmp_path / "logs" / "node0.log").read_text()
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        _kill_node(second)
        first.wait(timeout=90)  # bounded: far below the 300 s collective timeout
        err = (tmp_path / "logs" / "node0.log").read_text()
    finally:
        for node in (first, second):
            if node.poll() is None:
                _kill_node(node)
    assert first.returncode != 0
    assert "bench: error: lost contact with another process of the torchrun group" in err, err[-3000:]
    assert not list((tmp_path / "results" / "runs").glob("*.json"))
