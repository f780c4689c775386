"""``--device`` of every ``bench perf`` target (one suite over every registered target, as timm
tests every model): each takes it, a device torch cannot use here stops it with a usage error
saying why, and ``bench perf --device`` hands it to the targets. The timed figures themselves are
``bench perf``'s (no timed assertions here)."""

from __future__ import annotations

import argparse
import importlib
import json

import pytest
import torch

from tests.conftest import run_bench


def _targets() -> dict[str, str]:
    from benchmark.plugins import get_manager

    return {name: module for name, (module, _) in get_manager().perf_targets().items()}


@pytest.mark.parametrize("name", sorted(_targets()))
def test_every_perf_target_takes_a_device(name, capsys):
    main = importlib.import_module(_targets()[name]).main
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "--device" in capsys.readouterr().out
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: --device cuda would run the target")
    with pytest.raises(SystemExit) as done:
        main(["--device", "cuda", "--json"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "sees no CUDA device" in err and f"bench perf {name}" in err, err
    with pytest.raises(SystemExit) as done:
        main(["--device", "tpu"])
    assert done.value.code == 2 and "tpu" in capsys.readouterr().err


def test_perf_device_names_what_it_refuses():
    from benchmark.perf import clock, device_name, perf_device

    assert perf_device("cpu") == torch.device("cpu") and device_name(torch.device("cpu")) == "cpu"
    for bad, says in (("gpu0", "no torch device"), ("meta", "cpu or cuda only")):
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            perf_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(argparse.ArgumentTypeError, match="sees no CUDA device"):
            perf_device("cuda:0")
    before = clock(torch.device("cpu"))
    assert clock(None) >= before


def test_bench_perf_hands_its_device_to_the_target(tmp_path):
    """``bench perf --device cpu data`` runs the data target with ``--device cpu`` (its figures say
    so); ``--device cuda`` on a machine without CUDA stops before any target runs."""
    done = run_bench("perf", "--json", "--device", "cpu", "data", "--", "--batches", "2", "--batch-size", "10",
                     "--generated", "0", "--raw-generated", "0")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["device"] == "cpu"
    if not torch.cuda.is_available():
        refused = run_bench("perf", "--device", "cuda", "data")
        assert refused.returncode == 2 and "sees no CUDA device" in refused.stderr
        assert "read:" not in refused.stdout  # no target ran
