"""Registers encoder ``seq_lstm``, the name of a built-in (an installed plugin clashing with the core)."""

from benchmark import Encoder, hookimpl


class SeqLstmTwin(Encoder):
    name = "seq_lstm"


@hookimpl
def bench_register_encoders(register):
    register(SeqLstmTwin)
