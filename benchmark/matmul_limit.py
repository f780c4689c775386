"""The own-shape matmul limit of a step: every matrix product the step performs, at its real
shapes, timed alone and back to back on this machine. A step cannot run faster than its products
do, so ``sketches / seconds of its products`` bounds its rate more tightly than the FLOPs divided
by one large matmul's rate (:func:`benchmark.perf.matmul_gflops`): small products (an LSTM's
per-point recurrent step, attention over a few tokens) run far below a large one's rate.

:func:`record_products` runs the step under a ``TorchDispatchMode`` and keeps, in order, every
product torch dispatches, forward and backward: ``mm``, ``addmm``, ``bmm``, ``baddbmm`` as they are,
and fused kernels as the products they compute:

- oneDNN's LSTM layer (``mkldnn_rnn_layer``): the input projection of every point at once and one
  recurrent product per point step; its backward: the input's and the input weights' gradients,
  the recurrent gradient per point step and the recurrent weights' gradient;
- CPU flash attention (``_scaled_dot_product_flash_attention_for_cpu``): ``q k^T`` and ``p v`` per
  head; its backward: the four products of the gradients of ``p``, ``v``, ``q`` and ``k`` (the
  kernel's recomputation of ``q k^T`` is an implementation choice and is not counted).

Element-wise work (LayerNorm, GELU, softmax, the LSTM's gates, copies, the optimiser) is not
counted: the limit is the rate of a step that did nothing but its products. Convolutions are not
products here: the limit covers the stroke ViT's steps (a step with a convolution is refused).
:func:`time_products` times them: *alone* (each distinct shape repeated, its best per-call time,
times how often the step calls it) and *back to back* (the recorded sequence replayed in order,
as the step meets them: caches and allocation as in the step). The limit reported is the larger
of the two times, so it is never optimistic because of one measurement.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from benchmark.errors import BenchError

#: Seconds each distinct product is repeated for when timed alone (best of three such runs).
ALONE_SECONDS = 0.02


@dataclass(frozen=True)
class Product:
    """``batch`` products of an ``(m, k)`` by a ``(k, n)`` matrix; ``source``: ``linear``
    (``mm``/``addmm``: linear layers and their gradients), ``attention`` (``bmm`` or flash
    attention) or ``lstm`` (oneDNN's LSTM layer)."""

    batch: int
    m: int
    k: int
    n: int
    source: str

    @property
    def flops(self) -> int:
        return 2 * self.batch * self.m * self.k * self.n

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self.batch, self.m, self.k, self.n


def _lstm(input_: torch.Tensor, w_ih: torch.Tensor, batch_first: bool, backward: bool) -> list[Product]:
    steps, rows = (input_.shape[1], input_.shape[0]) if batch_first else (input_.shape[0], input_.shape[1])
    gates, features = w_ih.shape
    hidden = gates // 4
    points = steps * rows
    if not backward:
        return [Product(1, points, features, gates, "lstm")] + [Product(1, rows, hidden, gates, "lstm")] * steps
    return ([Product(1, points, gates, features, "lstm"), Product(1, gates, points, features, "lstm")]
            + [Product(1, rows, gates, hidden, "lstm")] * steps + [Product(1, gates, points, hidden, "lstm")])


def _attention(q: torch.Tensor, k: torch.Tensor, backward: bool) -> list[Product]:
    heads = q.shape[0] * q.shape[1]
    lq, lk, d = q.shape[2], k.shape[2], q.shape[3]
    if not backward:
        return [Product(heads, lq, d, lk, "attention"), Product(heads, lq, lk, d, "attention")]
    return [Product(heads, lk, lq, d, "attention"), Product(heads, lq, d, lk, "attention"),
            Product(heads, lq, lk, d, "attention"), Product(heads, lk, lq, d, "attention")]


def _products(func, args) -> list[Product]:
    """The products of one dispatched operator (empty for operators without any)."""
    aten = torch.ops.aten
    packet = func.overloadpacket
    if packet is aten.mm:
        a, b = args[0], args[1]
        return [Product(1, a.shape[0], a.shape[1], b.shape[1], "linear")]
    if packet is aten.addmm:
        a, b = args[1], args[2]
        return [Product(1, a.shape[0], a.shape[1], b.shape[1], "linear")]
    if packet in (aten.bmm, aten.baddbmm):
        a, b = (args[0], args[1]) if packet is aten.bmm else (args[1], args[2])
        return [Product(a.shape[0], a.shape[1], a.shape[2], b.shape[2], "attention")]
    if packet is aten.mkldnn_rnn_layer:
        return _lstm(args[0], args[1], bool(args[14]), backward=False)
    if packet is aten.mkldnn_rnn_layer_backward:
        return _lstm(args[0], args[1], bool(args[21]), backward=True)
    if packet is aten._scaled_dot_product_flash_attention_for_cpu:
        return _attention(args[0], args[1], backward=False)
    if packet is aten._scaled_dot_product_flash_attention_for_cpu_backward:
        return _attention(args[1], args[2], backward=True)
    if packet in (aten.convolution, aten.convolution_backward):
        raise BenchError("the own-shape limit covers products, not convolutions: this step has one")
    return []


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.products: list[Product] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.products += _products(func, args)
        return func(*args, **(kwargs or {}))


def record_products(work: Callable[[], Any]) -> list[Product]:
    """Every product ``work()`` dispatches (forward and backward), in order."""
    with _Recorder() as recorder:
        work()
    return recorder.products


def _operands(shape: tuple[int, int, int, int], generator: torch.Generator):
    batch, m, k, n = shape
    lead = (batch,) if batch > 1 else ()
    return (torch.randn(*lead, m, k, generator=generator), torch.randn(*lead, k, n, generator=generator))


def _run(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.bmm(a, b) if a.dim() == 3 else torch.mm(a, b)


def _alone_seconds(shape, operands) -> float:
    """Best per-call seconds of one product, repeated for about :data:`ALONE_SECONDS`."""
    a, b = operands
    for _ in range(2):
        _run(a, b)
    started = time.perf_counter()
    calls = 0
    while time.perf_counter() - started < ALONE_SECONDS / 4:
        _run(a, b)
        calls += 1
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(calls):
            _run(a, b)
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def _replay(products: list[Product], operands: dict) -> float:
    started = time.perf_counter()
    for p in products:
        _run(*operands[p.shape])
    return time.perf_counter() - started


def time_products(sequences: Iterable[list[Product]], threads: int, workers: int = 1,
                  repeats: int = 3) -> dict[str, Any]:
    """Seconds the products of ``sequences`` take on this machine.

    ``workers == 1``: the sequences run one after another with ``threads`` intra-op threads.
    ``workers > 1``: as :func:`tasks.sli.inversion.invert_many` runs its parts: sequence ``i`` on
    worker ``i % workers``, the workers in as many threads at once, one intra-op thread each.
    Returns ``{"alone_s", "back_to_back_s", "seconds" (the larger), "gflop", "by_source": {source:
    alone seconds}, "products", "shapes"}``; *alone* with workers is each worker's sum of single-
    thread times, the slowest worker's.
    """
    sequences = [list(s) for s in sequences]
    before = torch.get_num_threads()
    torch.set_num_threads(1 if workers > 1 else threads)
    try:
        generator = torch.Generator().manual_seed(0)
        shapes = {p.shape for s in sequences for p in s}
        operands = {shape: _operands(shape, generator) for shape in sorted(shapes)}
        alone = {shape: _alone_seconds(shape, operands[shape]) for shape in operands}
        lanes = [[p for i, s in enumerate(sequences) if i % workers == w for p in s] for w in range(workers)]
        for lane in lanes:  # warm every shape up in the order met
            _replay(lane, operands)
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                def together() -> float:
                    started = time.perf_counter()
                    list(pool.map(lambda lane: _replay(lane, operands), lanes))
                    return time.perf_counter() - started
                back_to_back = min(together() for _ in range(repeats))
        else:
            back_to_back = min(_replay(lanes[0], operands) for _ in range(repeats))
    finally:
        torch.set_num_threads(before)
    alone_s = max(sum(alone[p.shape] for p in lane) for lane in lanes)
    by_source = Counter()
    for s in sequences:
        for p in s:
            by_source[p.source] += alone[p.shape] / workers
    return {"alone_s": alone_s, "back_to_back_s": back_to_back, "seconds": max(alone_s, back_to_back),
            "gflop": sum(p.flops for s in sequences for p in s) / 1e9, "by_source": dict(by_source),
            "products": sum(len(s) for s in sequences), "shapes": len(shapes)}


def one_step(one: list[Product], two: list[Product]) -> list[Product]:
    """The products of one more optimisation step, from the products of the same work run with one
    step (``one``: preparing, a step, the last evaluation) and with two (``two``): what ``two`` has
    beyond ``one`` (a step's backward and forward: the last evaluation's forward has a step's
    shapes). Refuses sequences that do not start alike."""
    if two[:len(one)] != one:
        raise BenchError("one_step: the two-step work does not start with the one-step work's products")
    return two[len(one):]


def combined(base: dict[str, Any], step: dict[str, Any], steps: int) -> dict[str, Any]:
    """Timings of ``base`` plus ``steps`` times ``step`` (each from :func:`time_products`)."""
    out = {k: base[k] + steps * step[k] for k in ("alone_s", "back_to_back_s", "gflop")}
    out["seconds"] = max(out["alone_s"], out["back_to_back_s"])
    out["by_source"] = {s: base["by_source"].get(s, 0.0) + steps * step["by_source"].get(s, 0.0)
                        for s in {*base["by_source"], *step["by_source"]}}
    return out
