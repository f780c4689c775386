"""Running tasks: planning (:mod:`.plan`), the task API (:mod:`.context`), executing one run
(:mod:`.execute`), workers and ``torch.distributed`` (:mod:`.workers`), building records
(:mod:`.record`). ``bench run`` is :func:`plan` then :func:`run`."""

from benchmark.run.plan import EXPLAINER, RunSpec, Skipped, describe, plan
from benchmark.run.workers import run

__all__ = ["EXPLAINER", "RunSpec", "Skipped", "describe", "plan", "run"]
