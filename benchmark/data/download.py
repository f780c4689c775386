"""``bench data download``: QuickDraw files from Google's public bucket (or a mirror).

Each file is written to ``<dest>/<category><suffix>.part`` and renamed when complete, so a file
under its final name is always whole. An interrupted download resumes with an HTTP Range request;
failed requests are retried with exponential backoff. Standard library only (urllib).
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from benchmark.data.categories import quickdraw_names
from benchmark.data.formats import BINARY, RAW, SIMPLIFIED, SKETCHRNN, SUFFIX
from benchmark.errors import BenchError, unknown_name

DEFAULT_BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/"
REMOTE_DIR = {SIMPLIFIED: "full/simplified", RAW: "full/raw", BINARY: "full/binary", SKETCHRNN: "sketchrnn"}
_BLOCK = 1 << 20


def file_url(base_url: str, fmt: str, category: str) -> str:
    """The URL of one category's file (names are percent-quoted: ``hot%20dog``)."""
    return f"{base_url.rstrip('/')}/{REMOTE_DIR[fmt]}/{quote(category)}{SUFFIX[fmt]}"


class _Retry(Exception):
    """A transient failure: try again (resuming)."""


def _fetch(url: str, part: Path, timeout: float, report) -> None:
    """One attempt: append to ``part`` from its current size to the end of the remote file,
    calling ``report(bytes_so_far, total_or_None)`` as it goes."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing after what we have: complete if the sizes agree
            total = e.headers.get("Content-Range", "").rpartition("/")[2]
            if total.isdigit() and int(total) == have:
                return
            part.unlink()
            raise _Retry(f"HTTP 416 for a {have}-byte partial file; starting over") from None
        if e.code >= 500 or e.code == 429:
            raise _Retry(f"HTTP {e.code}") from None
        raise BenchError(f"{url}: HTTP {e.code}; check the category name, the format and "
                         "--base-url") from None
    except (urllib.error.URLError, OSError) as e:
        raise _Retry(str(getattr(e, "reason", e))) from None
    with response:
        if response.status == 206:
            expected = _total_from_range(response.headers.get("Content-Range", ""), have, url)
            mode = "ab"
        else:  # 200: the whole file (the server ignored Range, or we had nothing)
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
        report(have, expected)
        try:
            with open(part, mode) as fh:
                while block := response.read(_BLOCK):
                    fh.write(block)
                    have += len(block)
                    report(have, expected)
        except (http.client.IncompleteRead, OSError) as e:
            raise _Retry(f"connection lost after {have} bytes ({type(e).__name__})") from None
    if expected is not None and have != expected:
        raise _Retry(f"got {have} of {expected} bytes")


def _total_from_range(header: str, have: int, url: str) -> int | None:
    # "bytes START-END/TOTAL"
    try:
        span, _, total = header.removeprefix("bytes ").partition("/")
        start = int(span.partition("-")[0])
    except ValueError:
        raise BenchError(f"{url}: server sent a malformed Content-Range {header!r}") from None
    if start != have:
        raise BenchError(f"{url}: asked for bytes from {have}, server sent from {start}")
    return int(total) if total.isdigit() else None


def download_file(url: str, dest: Path, *, retries: int = 5, backoff: float = 1.0,
                  timeout: float = 60.0, report=lambda done, total: None) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part`` (resuming it if present); return ``dest``.

    Transient failures (connection errors, timeouts, truncated bodies, HTTP 5xx/429) are retried
    ``retries`` times, waiting ``backoff * 2**attempt`` seconds; a file missing on the server fails
    at once. The ``.part`` file is kept on failure, so a later call resumes it.
    """
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        try:
            _fetch(url, part, timeout, report)
            os.replace(part, dest)
            return dest
        except _Retry as e:
            if attempt == retries:
                raise BenchError(f"{url}: download failed after {retries + 1} attempt(s): {e}; "
                                 f"run the command again to resume from {part.name}") from None
            time.sleep(backoff * 2**attempt)
            attempt += 1


def download(categories: list[str], fmt: str, dest: str | Path, *, base_url: str = DEFAULT_BASE_URL,
             retries: int = 5, backoff: float = 1.0, timeout: float = 60.0) -> list[Path]:
    """Download each category's file in format ``fmt`` into ``dest`` (``<category><suffix>``);
    files already there are kept. Returns the files' paths, in category order."""
    if fmt not in REMOTE_DIR:
        raise BenchError(f"--format {fmt!r}: choose one of {', '.join(REMOTE_DIR)}")
    known = set(quickdraw_names())
    for c in categories:
        if c not in known:
            raise unknown_name("category", c, known, hint="(QuickDraw has 345 categories)")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    paths = [dest / f"{c}{SUFFIX[fmt]}" for c in categories]
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        for i, (category, path) in enumerate(zip(categories, paths), 1):
            if path.exists():
                continue
            task = bar.add_task(f"[{i}/{len(paths)}] {category}", total=None)
            download_file(file_url(base_url, fmt, category), path, retries=retries, backoff=backoff,
                          timeout=timeout,
                          report=lambda done, total, task=task: bar.update(task, completed=done, total=total))
    return paths
