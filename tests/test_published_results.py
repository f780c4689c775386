"""The committed leaderboards under results/ regenerate byte for byte from their run records."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

from benchmark.report.publish import collections, expected

PUBLISHED = [f for f in collections(ROOT / "results") if (f / "LEADERBOARD.md").is_file()]


@pytest.mark.parametrize("folder", PUBLISHED, ids=[f.name for f in PUBLISHED])
def test_committed_leaderboard_matches_its_records(folder):
    for path, text in expected(folder).items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run python -m benchmark.report.publish"


def test_something_is_published():
    assert PUBLISHED, "results/ holds no published leaderboard"


@pytest.mark.parametrize("folder", collections(ROOT / "results"), ids=lambda f: str(f.relative_to(ROOT)))
def test_the_report_of_a_committed_folder_links_only_what_it_carries(folder, tmp_path):
    """Galleries are not committed: the report says so in the run's section (one summary warning)
    instead of linking a page it does not have; every local href and src resolves in the report."""
    import re

    from benchmark.report import leaderboard
    from benchmark.report.html import write_report

    said: list[str] = []
    board = leaderboard.build(folder)
    index = write_report(board, tmp_path / "report", warn=said.append)
    assert len(said) <= 1 and not any("outside" in line for line in said), said
    text = index.read_text(encoding="utf-8")
    local = [u for u in re.findall(r'(?:href|src)="([^"]+)"', text) if not u.startswith(("#", "http", "data:"))]
    assert [u for u in local if not (index.parent / u).is_file()] == []
    pages = [r for r in board.runs.values() if any(str(v).endswith("index.html") for v in r["artifacts"].values())]
    absent = [r for r in pages if not any((Path(r["_path"]).parent / v).is_file()
                                          for v in r["artifacts"].values() if str(v).endswith("index.html"))]
    assert text.count("is not in this results folder") == len(absent)
@pytest.mark.parametrize("width", [80, 120])
def test_the_terminal_boards_of_the_demo_results_fit_and_say_what_they_leave_out(width):
    """One board per family; each fits ``width`` columns; at 120 every headline column is shown, and
    a column that does not fit is named under its board, never dropped silently."""
    from benchmark.report import leaderboard, render

    board = leaderboard.build(ROOT / "results" / "demo")
    text = render.render(board, "table", width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    families = {b.family for b in board.boards}
    assert {"recognition", "location reliance", "SLI", "stroke pointing", "stroke deletion"} <= families
    for b in board.boards:
        assert b.title in text
    dropped = [line for line in text.splitlines() if "not shown, the terminal is too narrow" in line]
    if width == 120:
        assert dropped == []
    assert len(dropped) <= len(board.boards) and all("--wide" in line for line in dropped)


def test_the_demo_markdown_boards_are_narrow_and_print_no_ratio_as_a_percentage():
    from benchmark.report import leaderboard, render

    board = leaderboard.build(ROOT / "results" / "demo")
    md = render.render(board, "md")
    for block in md.split("### ")[1:]:
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        header = [c.strip() for c in lines[0].strip("|").split(" | ")]
        assert len(header) <= 10, header
        for row in lines[2:]:
            for name, cell in zip(header, (c.strip() for c in row.strip("|").split(" | "))):
                assert "%" not in cell or "(%)" in name, (name, cell)


@pytest.mark.parametrize("folder", collections(ROOT / "results"), ids=lambda f: str(f.relative_to(ROOT)))
def test_the_report_of_a_committed_folder_has_each_declared_picture_or_says_why_not(folder, tmp_path):
    """Every curve the folder's tasks declare (``Task.curves``) is a plot of its title, or, where the
    records are of an older task version, a place saying so (``results/demo``: the pointing ROC)."""
    import re

    from benchmark.plugins import get_manager
    from benchmark.report import leaderboard
    from benchmark.report.html import write_report

    board = leaderboard.build(folder)
    page = write_report(board, tmp_path / "report").read_text(encoding="utf-8")
    drawn = re.findall(r'<figure class="plot"><svg[^>]*><title>(.*?)</title>', page)
    absent = re.findall(r'<figure class="plot absent"><h3>(.*?)</h3>', page)
    tasks = get_manager().tasks
    for name in sorted({r["task"]["name"] for r in board.runs.values()}):
        for title in tasks[name].curves.values():
            assert (title in drawn) != (title in absent), (name, title, drawn, absent)
    if any(r["task"]["name"] == "stroke_pointing" for r in board.runs.values()):
        assert "Stroke pointing ROC: evidence vs distractor strokes" in drawn + absent
