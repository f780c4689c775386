"""bench data download against a real loopback HTTP server (with Range support) serving the
QuickDraw sample laid out like Google's bucket."""

from __future__ import annotations

import argparse
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from benchmark.data import cli as data_cli
from benchmark.data.download import download, file_url
from benchmark.errors import BenchError


class _Handler(BaseHTTPRequestHandler):
    """GET with ``Range: bytes=N-`` / ``bytes=N-M``; paths in ``server.cut`` lose their connection
    half-way through the body (once each); ``server.ignore_range`` answers 200 to everything."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        srv = self.server
        rel = unquote(self.path.split("?")[0]).lstrip("/")
        srv.log.append((rel, self.headers.get("Range")))
        path = srv.root / rel
        if ".." in rel or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        status, start, end = 200, 0, len(data)
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if match and not srv.ignore_range:
            start = int(match[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            end = min(len(data), int(match[2]) + 1) if match[2] else len(data)
            status = 206
        body = data[start:end]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        if rel in srv.cut:
            srv.cut.discard(rel)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(quickdraw_dir):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.root, srv.log, srv.cut, srv.ignore_range = Path(quickdraw_dir), [], set(), False
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_download_via_cli_quotes_names_and_writes_whole_files(server, quickdraw_dir, tmp_path):
    parser = argparse.ArgumentParser()
    data_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["data", "download", "--categories", "cat,hot dog,The Eiffel Tower",
                              "--format", "simplified", "--dest", str(tmp_path), "--base-url", server.url])
    assert args.func(args) == 0
    for name in ("cat", "hot dog", "The Eiffel Tower"):
        src = quickdraw_dir / "full" / "simplified" / f"{name}.ndjson"
        assert (tmp_path / f"{name}.ndjson").read_bytes() == src.read_bytes()
    assert ("full/simplified/hot dog.ndjson", None) in server.log
    assert sorted(p.name for p in tmp_path.iterdir()) == ["The Eiffel Tower.ndjson", "cat.ndjson", "hot dog.ndjson"]
    assert file_url("https://x/", "sketchrnn", "hot dog") == "https://x/sketchrnn/hot%20dog.npz"


def test_connection_lost_mid_file_is_retried_with_range(server, quickdraw_dir, tmp_path):
    rel = "full/raw/cat.ndjson"
    server.cut.add(rel)
    size = (quickdraw_dir / rel).stat().st_size
    [path] = download(["cat"], "raw", tmp_path, base_url=server.url, retries=2, backoff=0)
    assert path.read_bytes() == (quickdraw_dir / rel).read_bytes()
    assert [r for p, r in server.log if p == rel] == [None, f"bytes={size // 2}-"]
    assert not list(tmp_path.glob("*.part"))


def test_interrupted_download_leaves_only_part_then_resumes(server, quickdraw_dir, tmp_path):
    rel = "full/simplified/cat.ndjson"
    server.cut.add(rel)
    with pytest.raises(BenchError, match=r"failed after 1 attempt.*resume from cat.ndjson.part"):
        download(["cat"], "simplified", tmp_path, base_url=server.url, retries=0)
    size = (quickdraw_dir / rel).stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == ["cat.ndjson.part"]
    assert (tmp_path / "cat.ndjson.part").stat().st_size == size // 2
    download(["cat"], "simplified", tmp_path, base_url=server.url, retries=0)
    assert (tmp_path / "cat.ndjson").read_bytes() == (quickdraw_dir / rel).read_bytes()
    assert server.log[-1] == (rel, f"bytes={size // 2}-")
    # complete files are not fetched again
    n = len(server.log)
    download(["cat"], "simplified", tmp_path, base_url=server.url)
    assert len(server.log) == n


def test_part_file_already_complete_and_server_ignoring_range(server, quickdraw_dir, tmp_path):
    src = (quickdraw_dir / "full/simplified/dog.ndjson").read_bytes()
    (tmp_path / "dog.ndjson.part").write_bytes(src)  # complete, but not yet renamed: 416
    download(["dog"], "simplified", tmp_path, base_url=server.url, retries=0)
    assert (tmp_path / "dog.ndjson").read_bytes() == src
    server.ignore_range = True  # a 200 answer to a Range request restarts the file
    (tmp_path / "cow.ndjson.part").write_bytes(b"garbage")
    download(["cow"], "simplified", tmp_path, base_url=server.url, retries=0)
    assert (tmp_path / "cow.ndjson").read_bytes() == (quickdraw_dir / "full/simplified/cow.ndjson").read_bytes()


def test_missing_file_and_unknown_category(server, tmp_path):
    with pytest.raises(BenchError, match=r"zigzag\.ndjson: HTTP 404"):  # not in the sample
        download(["zigzag"], "simplified", tmp_path, base_url=server.url, retries=3, backoff=10)
    assert not list(tmp_path.iterdir())
    with pytest.raises(BenchError, match=r"unknown category 'hot dgo'; did you mean: hot dog"):
        download(["hot dgo"], "simplified", tmp_path, base_url=server.url)
    with pytest.raises(BenchError, match=r"path separators"):
        parser = argparse.ArgumentParser()
        data_cli.add_parser(parser.add_subparsers())
        args = parser.parse_args(["data", "download", "--categories", "../cat", "--format", "raw",
                                  "--dest", str(tmp_path), "--base-url", server.url])
        args.func(args)


def test_unreachable_server_fails_after_retries(tmp_path):
    with pytest.raises(BenchError, match=r"failed after 2 attempt"):
        download(["cat"], "simplified", tmp_path, base_url="http://127.0.0.1:9/", retries=1, backoff=0,
                 timeout=2)
    assert not (tmp_path / "cat.ndjson").exists()
