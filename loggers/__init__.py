"""Built-in logger plugins, through the lifecycle hooks (``bench_run_started``, ``bench_log_metrics``,
``bench_run_finished``) as a third-party logger would: :mod:`loggers.tensorboard`."""

from loggers.tensorboard import bench_log_metrics, bench_run_finished, bench_run_started

__all__ = ["bench_log_metrics", "bench_run_finished", "bench_run_started"]
