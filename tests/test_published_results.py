"""The committed leaderboards under results/ regenerate byte for byte from their run records."""

from __future__ import annotations

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
