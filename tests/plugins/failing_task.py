"""Task ``fail_on_rank``: raises on rank $BENCH_TEST_FAIL_RANK, or kills itself with SIGKILL when
$BENCH_TEST_FAIL_MODE=kill; the other ranks wait in a collective (so a hang would show)."""

import os
import signal

from benchmark import Metric, Task, TaskResult, hookimpl


class FailOnRank(Task):
    name = "fail_on_rank"
    metrics = {"x": Metric(True)}

    def run(self, ctx):
        from benchmark import distributed

        if ctx.dist.rank == int(os.environ.get("BENCH_TEST_FAIL_RANK", "1")):
            if os.environ.get("BENCH_TEST_FAIL_MODE") == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("deliberate failure for the test")
        distributed.barrier(ctx.dist)
        return TaskResult(metrics={"x": 1.0})


@hookimpl
def bench_register_tasks(register):
    register(FailOnRank)
