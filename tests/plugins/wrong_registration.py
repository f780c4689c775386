"""A plugin that registers something that is not an Encoder class."""

from benchmark import hookimpl


@hookimpl
def bench_register_encoders(register):
    register("not a class")
