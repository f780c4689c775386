"""Rich progress bars on stderr, shown only on rank 0 and only when stderr is a terminal."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_console = Console(stderr=True, soft_wrap=True)


def enabled(rank: int = 0) -> bool:
    return rank == 0 and sys.stderr.isatty()


@contextmanager
def bar(rank: int = 0):
    """A :class:`rich.progress.Progress` (disabled off rank 0 or off a terminal)."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=_console,
                        disable=not enabled(rank), transient=False)
    with progress:
        yield progress


def say(message: str, rank: int = 0) -> None:
    """A status line on stderr (rank 0 only); stdout stays for data."""
    if rank == 0:
        _console.print(message, highlight=False)
