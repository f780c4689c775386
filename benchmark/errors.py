"""Errors the CLI reports as one clear line (no traceback)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """A user-facing error: the message says what is wrong and what to do."""


class ResumeRefused(BenchError):
    """``--resume`` refused the saved state before the run changed anything: the run's folder is kept as
    it was (checkpoint, state, ``in_progress.json``), not marked failed, so nothing a user had is lost."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by a command that cleans up when stopped (``bench data
    prepare``): a :class:`KeyboardInterrupt`, so every ``with`` and ``finally`` that cleans up after
    Ctrl-C cleans up after a kill too; the CLI exits 143."""


class PluginError(BenchError):
    """A plugin misbehaved (name clash, wrong registration, bad return value)."""


def close_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``known`` that look like ``name`` (close spellings first, then containing it)."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=n, cutoff=0.5)
    return close + [k for k in known if name and name in k and k not in close][: n - len(close)]


def unknown_name(kind: str, name: str, known: Iterable[str], hint: str = "") -> BenchError:
    """``unknown encoder 'vit_tiny'; did you mean: stroke_vit_tiny?`` with the close names."""
    known = sorted(known)
    close = close_names(name, known)
    msg = f"unknown {kind} {name!r}"
    if close:
        msg += f"; did you mean: {', '.join(close)}?"
    else:
        msg += f"; known {kind}s: {', '.join(known) or '(none)'}"
    return BenchError(msg + (f" {hint}" if hint else ""))
