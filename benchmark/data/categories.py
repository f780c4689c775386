"""Category sets: ``30`` (the SketchXAI list), ``345`` (all of QuickDraw), a file of names, or a
comma-separated list. Names are checked for safety (they become file names and URLs)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from benchmark.errors import BenchError

#: The built-in sets, shipped as ``benchmark/categories/<name>.txt``.
BUILTIN_SETS = ("30", "345")


@cache
def builtin(which: str) -> tuple[str, ...]:
    """The names of a built-in set (``"30"`` or ``"345"``), in file order."""
    text = resources.files("benchmark").joinpath("categories", f"{which}.txt").read_text("utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def quickdraw_names() -> tuple[str, ...]:
    """All 345 QuickDraw category names."""
    return builtin("345")


def check_name(name: str, where: str = "") -> str:
    """Return ``name`` stripped, or raise if it cannot be a category (empty, path separators, dots)."""
    stripped = name.strip()
    origin = f" (in {where})" if where else ""
    if not stripped:
        raise BenchError(f"empty category name{origin}; separate names with single commas")
    if any(c in stripped for c in "/\\\0") or stripped in (".", "..") or stripped.startswith("."):
        raise BenchError(f"category name {stripped!r}{origin} must not contain path separators "
                         "or start with a dot: names become file names (a file of names must exist)")
    return stripped


def resolve_categories(spec: str) -> list[str]:
    """Category names for ``spec``: ``30``, ``345``, a path to a file (one name a line, ``#``
    comments) or ``name,name,...``. Order is kept (it defines the labels); duplicates fail."""
    spec = spec.strip()
    if spec in BUILTIN_SETS:
        return list(builtin(spec))
    path = Path(spec)
    if path.is_file():
        lines = path.read_text("utf-8").splitlines()
        names = [check_name(line, f"{path}:{i}") for i, line in enumerate(lines, 1)
                 if line.strip() and not line.lstrip().startswith("#")]
        if not names:
            raise BenchError(f"category file {path} lists no names")
    else:
        names = [check_name(part, f"--categories {spec!r}") for part in spec.split(",")]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BenchError(f"category {name!r} is listed twice in {spec!r}")
        seen.add(name)
    return names
