"""sketchxai-bench: a plugin-based benchmark harness for explainability on human sketches.

Plugins implement the hooks of :mod:`benchmark.hookspecs` with :data:`hookimpl`. Importing this
package does not import torch.
"""

from benchmark.contracts import (ATTENTION, GRADIENTS, SLI, Dataset, Encoder, Explainer, Metric, MetricValue, RunInfo,
                                 Task, TaskResult)
from benchmark.hookspecs import hookimpl

__version__ = "0.2.0"

__all__ = ["ATTENTION", "GRADIENTS", "SLI", "Dataset", "Encoder", "Explainer", "Metric", "MetricValue", "RunInfo", "Task", "TaskResult",
           "hookimpl", "__version__"]
