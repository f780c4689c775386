"""One number format per kind of number (benchmark.report.numbers), and the declared formats of the built-in tasks."""

from __future__ import annotations

import pytest

from benchmark.contracts import FORMATS, Metric, infer_format
from benchmark.plugins import get_manager
from benchmark.report.numbers import count, interval, number


@pytest.mark.parametrize("value, low, high, fmt, expected", [
    (0.98, 0.9654, 0.9885, "percent", ("98.0", "[96.5, 98.9]")),
    (1.0, 0.9936, 1.0, "percent", ("100.0", "[99.4, 100.0]")),
    (0.0018, 0.0005, 0.012, "percent", ("0.18", "[0.05, 1.20]")),
    (3.1074, 2.641, 3.5987, "signed", ("+3.11", "[+2.64, +3.60]")),  # a ratio: never a percentage
    (-8.7078, -10.5382, -7.2068, "signed", ("\u22128.7", "[\u221210.5, \u22127.2]")),  # 3 digits for the largest
    (0.0368, -0.1248, 0.0471, "signed", ("+0.037", "[\u22120.125, +0.047]")),
    (0.0, 0.0, 0.0, "signed", ("0", "[0, 0]")),
    (0.7546, 0.6995, 0.8050, "number", ("0.755", "[0.700, 0.805]")),
    (-0.1, -0.4125, 0.2189, "number", ("\u22120.100", "[\u22120.412, 0.219]")),
    (1251.04, None, None, "speed", ("1,251", "")),
    (2.74, None, None, "speed", ("2.74", "")),
    (1.0, None, None, "flag", ("yes", "")),
    (0.0, None, None, "flag", ("no", "")),
])
def test_each_format_has_three_significant_digits_and_its_ci_alike(value, low, high, fmt, expected):
    assert interval(value, low, high, fmt) == expected


def test_counts_and_single_numbers():
    assert [count(n) for n in (5_680_524, 795_916, 42, 1_015_308)] == ["5.68 M", "796 k", "42", "1.02 M"]
    assert number(0.25, "signed") == "+0.250" and number(0.25, "percent") == "25.0"


def test_formats_are_inferred_for_records_that_declare_none():
    assert infer_format("fraction", "proportion", "score") == "percent"
    assert infer_format("fraction", None, "score") == "percent"  # a run-level accuracy
    assert infer_format("fraction", "ratio_of_means", "score") == "signed"  # a ratio: never a percentage
    assert infer_format("fraction", "mean", "score") == "signed"  # a mean of differences
    assert infer_format("sketches/s", None, "speed") == "speed"
    assert infer_format("AUROC", "mean", "score") == "number"
    assert Metric(True, unit="fraction", field=("a", "b"), aggregation="ratio_of_means").format == "signed"
    assert Metric(True, format="percent").problems() == [] and Metric(True, format="%").problems()


def test_no_built_in_ratio_or_difference_is_a_percentage():
    """A ratio of means can leave [0, 1] (SLI fidelity -8.7, skill 3.1): its format is never percent."""
    for name, cls in get_manager().tasks.items():
        for metric, spec in cls.metrics.items():
            assert spec.format in FORMATS, (name, metric)
            if spec.aggregation == "ratio_of_means" or "skill" in metric or "drop" in metric or "vs_random" in metric:
                assert spec.format == "signed", (name, metric)
