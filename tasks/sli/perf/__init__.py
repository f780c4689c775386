"""Perf targets of the SLI family (``bench perf TARGET``; each module a ``main(argv)``): ``batched``
(``sli``: the batched inversion vs the published one-sketch loop, with the FLOP limit) and
``controls`` (the random-weights control and the bounded preset beside the plain run). The shared
measuring pieces are in :mod:`benchmark.perf`."""
