"""A plugin whose hook name is misspelt (caught by pm.check_pending())."""

from benchmark import hookimpl


@hookimpl
def bench_register_encoder(register):  # missing the final "s"
    pass
