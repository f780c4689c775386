"""Built-in tasks, registered through the same hook as third-party plugins."""

from benchmark import hookimpl


@hookimpl
def bench_register_tasks(register):
    from tasks.recognition import Recognition
    from tasks.sli import TASKS as sli_tasks

    for cls in (Recognition, *sli_tasks):
        register(cls)
