"""Registers encoder ``twin`` (clashes with clash_b.py)."""

from benchmark import Encoder, hookimpl


class TwinA(Encoder):
    name = "twin"


@hookimpl
def bench_register_encoders(register):
    register(TwinA)
