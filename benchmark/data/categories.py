"""Category sets: ``30`` (the SketchXAI list), ``345`` (all of QuickDraw), ``all`` (every category
present in a source folder), a file of names, or a comma-separated list. Names are checked for safety (they become file names and URLs)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path

from benchmark.errors import BenchError

#: The built-in sets, shipped as ``benchmark/categories/<name>.txt``.
BUILTIN_SETS = ("30", "345")
#: The longest category name: with ``.ndjson`` it must still fit a file name (255 bytes).
MAX_NAME_BYTES = 200


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
    if len(stripped.encode("utf-8")) > MAX_NAME_BYTES:
        raise BenchError(f"category name {stripped[:40]!r}...{origin} is longer than {MAX_NAME_BYTES} bytes: "
                         "names become file names; separate names with commas")
    return stripped


def _names_file(spec: str) -> Path | None:
    """``spec`` as a file of names, or ``None`` when no such file exists (a comma list is
    usually too long to be a path at all: ``ENAMETOOLONG`` means "not a file" too)."""
    path = Path(spec)
    try:
        return path if path.is_file() else None
    except OSError:
        return None


#: The set that means "every category the source has" (``present`` in :func:`resolve_categories`).
ALL = "all"


def resolve_categories(spec: str, present: Callable[[], list[str]] = quickdraw_names) -> list[str]:
    """Category names for ``spec``: ``30``, ``345``, ``all`` (``present()``: the categories of the
    source being read, by default all of QuickDraw), a path to a file (one name a line, ``#``
    comments) or ``name,name,...``. Order is kept (it defines the labels); duplicates fail."""
    spec = spec.strip()
    if spec == ALL:
        return list(present())
    if spec in BUILTIN_SETS:
        return list(builtin(spec))
    path = _names_file(spec)
    if path is not None:
        lines = path.read_text("utf-8").splitlines()
        names = [check_name(line, f"{path}:{i}") for i, line in enumerate(lines, 1)
                 if line.strip() and not line.lstrip().startswith("#")]
        if not names:
            raise BenchError(f"category file {path} lists no names")
    else:
        names = [check_name(part, f"--categories {_short(spec)}") for part in spec.split(",")]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BenchError(f"category {name!r} is listed twice in {_short(spec)}")
        seen.add(name)
    return names


def _short(spec: str, most: int = 80) -> str:
    """``spec`` quoted for a message, cut to about ``most`` characters (a list may be long)."""
    return repr(spec) if len(spec) <= most else f"{spec[:most]!r}... ({spec.count(',') + 1} names)"
