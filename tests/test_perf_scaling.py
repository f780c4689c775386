"""``bench perf scaling`` (sketches of exactly k real strokes, and the target's figures through the CLI),
``bench perf first-epoch`` and the FLOP counts behind the perf targets' limits; no timed assertions:
only that every figure is there and sane."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.batch import collate, split_strokes
from tasks.recognition.perf.scaling import sketches_with_strokes


def test_sketches_with_strokes_have_exactly_k_real_strokes():
    rng = np.random.default_rng(0)
    real = []
    for n in (3, 5, 2):
        pts = rng.random((4 * n, 3)).astype(np.float32)
        pts[:, 2] = 0
        pts[3::4, 2] = 1
        real.append(pts)
    strokes = {s.tobytes() for sketch in real for s in split_strokes(sketch)}
    for k in (1, 7, 196):
        made = sketches_with_strokes(real, k, 3)
        assert len(made) == 3
        for sketch in made:
            assert sketch.dtype == np.float32 and int((sketch[:, 2] > 0.5).sum()) == k
            assert all(s.tobytes() in strokes for s in split_strokes(sketch))  # human strokes, as drawn
        batch = collate(made, [0, 1, 2])
        assert batch.stroke_mask.shape == (3, k) and bool(batch.stroke_mask.all())
    assert all(np.array_equal(a, b) for a, b in zip(sketches_with_strokes(real, 5, 2), sketches_with_strokes(real, 5, 2)))


@pytest.mark.slow
def test_bench_perf_scaling_json_gives_both_modes_at_every_count(quickdraw_dir):
    from tests.conftest import run_bench

    done = run_bench("perf", "--json", "scaling", "--", "--strokes", "1,8", "--batch-size", "2", "--batches", "1",
                     "--threads", "1", env={"BENCH_QUICKDRAW_DIR": str(quickdraw_dir), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)["scaling"]
    assert [r["strokes"] for r in figures["rows"]] == [1, 8]
    for row in figures["rows"]:
        for mode in ("default", "reference_compat"):
            assert row[mode]["train"] > 0 and row[mode]["eval"] > 0
        assert row["limit"]["train"] > 0 and row["limit"]["eval"] > row["limit"]["train"]
    # the FLOP limit follows the real tokens
    assert figures["rows"][0]["limit"]["eval"] > figures["rows"][1]["limit"]["eval"]
    bad = run_bench("perf", "scaling", "--", "--strokes", "0", env={"BENCH_QUICKDRAW_DIR": str(quickdraw_dir)})
    assert bad.returncode != 0 and "within 1..196" in bad.stderr


def test_bench_perf_first_epoch_json_gives_two_models_two_epochs():
    from tests.conftest import run_bench

    done = run_bench("perf", "--json", "first-epoch", "--", "--per-class", "8", "--batch-size", "32",
                     env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)["first-epoch"]
    assert figures["steps"] == 3 and "synthetic" in figures["data"]
    assert [(r["model"], r["epoch"]) for r in figures["rows"]] == [
        ("first model", 1), ("first model", 2), ("second model, same process", 1), ("second model, same process", 2)]
    assert all(r["user_s"] > 0 and r["minor_faults"] >= 0 and len(r["first_steps_cpu_s"]) == 2 for r in figures["rows"])
    assert figures["rows"][0]["minor_faults"] > 0  # a fresh process touches new memory in its first epoch


@pytest.mark.parametrize("strokes", [1, 4, 11])
def test_the_sli_flop_count_is_what_one_step_multiplies(strokes):
    """sli_step_flops (behind ``bench perf sli``'s FLOP limit) agrees with the products a real packed
    forward + location-gradient step of one sketch (no padding) dispatches, to the location and head
    layers it leaves out (under 0.5%). The products are recorded by benchmark.matmul_limit, since
    torch's FLOP counter does not see CPU flash attention; it sees the rest, never more."""
    from benchmark.matmul_limit import record_products
    from benchmark.perf import counted_flops
    from encoders.stroke_vit import StrokeViTTiny
    from encoders.stroke_vit.flops import sli_step_flops

    rng = np.random.default_rng(strokes)
    sketch = np.concatenate([np.column_stack([rng.uniform(-0.5, 0.5, (5, 2)), np.eye(5)[-1]])
                             for _ in range(strokes)]).astype(np.float32)
    batch = collate([sketch], [0], [0])
    module = StrokeViTTiny.build(30, {}).eval().requires_grad_(False)
    prepared = module.prepare_sli(batch)
    locations = batch.locations.clone().requires_grad_(True)
    step = lambda: module.forward_sli(prepared, locations).sum().backward()  # noqa: E731
    recorded = sum(p.flops for p in record_products(step))
    assert sli_step_flops([sketch]) == pytest.approx(recorded, rel=5e-3)
    assert sli_step_flops([sketch]) < recorded  # what it leaves out is never negative
    assert counted_flops(step) <= recorded


def _perf_targets():
    from benchmark.plugins import get_manager

    return get_manager().perf_targets()


@pytest.mark.parametrize("target", sorted(_perf_targets()))
def test_every_perf_target_takes_json(target, capsys):
    """``bench perf --json`` passes ``--json`` to every target (one that refused it stopped the run)."""
    import importlib

    main = importlib.import_module(_perf_targets()[target][0]).main
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    assert "--json" in capsys.readouterr().out
