"""Perf targets of the recognition family (``bench perf TARGET``; each module a ``main(argv)``):
``throughput`` (recognition: train/eval vs the published implementation), ``scaling`` (cost
against strokes per sketch), ``first_epoch`` (why the first epoch is slower), ``baselines`` (every
baseline encoder) and ``contention`` (sharing the CPU). The shared measuring pieces are in
:mod:`benchmark.perf`."""
