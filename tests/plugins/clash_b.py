"""Registers encoder ``twin`` (clashes with clash_a.py)."""

from benchmark import Encoder, hookimpl


class TwinB(Encoder):
    name = "twin"


@hookimpl
def bench_register_encoders(register):
    register(TwinB)
