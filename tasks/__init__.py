"""Built-in tasks, registered through the same hook as third-party plugins."""

from benchmark import hookimpl


@hookimpl
def bench_register_tasks(register):
    from tasks.recognition import Recognition

    register(Recognition)
    try:
        from tasks.sli import TASKS as sli_tasks
    except ModuleNotFoundError as exc:  # SLI tasks live in their own module
        if exc.name != "tasks.sli":
            raise
        sli_tasks = ()
    for cls in sli_tasks:
        register(cls)
