"""Records lifecycle hook calls as JSON lines in $BENCH_TEST_HOOK_LOG; with
$BENCH_TEST_DIE_AT_EPOCH=N it kills its own process when epoch N is logged (to test --resume)."""

import json
import os

from benchmark import hookimpl


def _log(event, **fields):
    path = os.environ.get("BENCH_TEST_HOOK_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"event": event, **fields}, default=str) + "\n")


@hookimpl
def bench_run_started(run):
    _log("started", run_id=run.run_id, rank=run.rank, world_size=run.world_size)


@hookimpl
def bench_log_metrics(run, step, metrics):
    _log("metrics", run_id=run.run_id, step=step, metrics=metrics)
    die_at = os.environ.get("BENCH_TEST_DIE_AT_EPOCH")
    if die_at and metrics.get("epoch") == int(die_at):
        os._exit(17)


@hookimpl
def bench_run_finished(run, record):
    _log("finished", run_id=run.run_id, record_run_id=record["run_id"])
