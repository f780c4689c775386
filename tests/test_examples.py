"""Every example of ``bench run --help`` and every ``bench`` command of the README's ``bash`` blocks works.

The commands are parsed from the help text and README.md themselves, so a new example is tested as
soon as it is written. Each one is first parsed by the real argument parser (flags, choices), then:

- run as written: ``bench list``, ``bench leaderboard`` (on copies of the committed records of
  ``results/demo`` and ``results/quickdraw30``), ``bench perf list``, ``bench data prepare`` (its
  ``--source`` replaced by the real QuickDraw sample, so the ``qd30.h5`` later commands name exists);
- planned only, with ``--dry-run`` (every name and setting checked, the encoder built on the meta
  device, nothing trained): every ``bench run`` (each trains or inverts for minutes);
- parsed only: ``bench data download`` (needs the internet), ``bench perf`` targets (timed figures,
  minutes each), and ``--tensorboard`` runs where TensorBoard is not installed.

A ``bench`` command that fits none of these fails the test: classify it here.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
from pathlib import Path

import pytest
import torch

from benchmark.cli import build_parser
from conftest import ROOT, bench_here, run_bench

README = ROOT / "README.md"
#: Marks a README command launched by torchrun (parsed only: it needs the nodes it names).
TORCHRUN = "  # torchrun"
PARSE_ONLY = {("data", "download"): "downloads from the internet", ("perf",): "timed figures, minutes each"}


#: Every command whose ``--help`` shows examples.
WITH_EXAMPLES = [(), ("run",), ("list",), ("leaderboard",), ("data", "prepare"), ("data", "download"), ("perf",)]


def help_examples(*command: str) -> list[str]:
    """The commands of ``bench COMMAND --help``'s examples (the part before each description)."""
    done = run_bench(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert "examples:" in done.stdout, f"bench {' '.join(command)} --help shows no examples"
    text = done.stdout.split("examples:", 1)[1]
    return [re.split(r"\s{2,}", line.strip())[0] for line in text.splitlines() if line.strip().startswith("bench ")]


def readme_commands() -> list[str]:
    """Every ``bench`` command line of the README's ``bash`` blocks (continuations joined,
    comments dropped); ``torchrun ... -m benchmark ARGS`` counts as ``bench ARGS``."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].strip()
            if line.startswith("torchrun ") and " -m benchmark " in line:  # needs a cluster: parsed only
                line = "bench " + line.split(" -m benchmark ", 1)[1] + TORCHRUN
            if line.startswith(("bench ", "python -m benchmark ")):
                commands.append(line.replace("python -m benchmark ", "bench ", 1))
    return commands


def _words(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[0] == "bench", command
    return words[1:]


def _subcommand(args: list[str]) -> tuple[str, ...]:
    positional = [a for a in args if not a.startswith("-")]
    return tuple(positional[:2]) if positional[:1] == ["data"] else tuple(positional[:1])


def _how(args: list[str]) -> str:
    sub = _subcommand(args)
    if sub == ("run",):
        if "--tensorboard" in args and importlib.util.find_spec("tensorboard") is None:
            return "parse"
        return "dry-run"
    if sub == ("perf",) and args[-1:] == ["list"]:
        return "run"
    if sub in PARSE_ONLY:
        return "parse"
    if sub in (("list",), ("leaderboard",), ("data", "prepare")):
        return "run"
    raise AssertionError(f"bench {' '.join(args)}: not classified in tests/test_examples.py")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, quickdraw_dir) -> Path:
    """A folder with the committed records as ``results/runs`` (what the commands' default reads)."""
    folder = tmp_path_factory.mktemp("examples")
    for published in ("demo", "quickdraw30"):
        shutil.copytree(ROOT / "results" / published / "runs", folder / "results" / "runs", dirs_exist_ok=True)
    return folder


def _check(command: str, workdir: Path, quickdraw_dir: Path, capsys) -> None:
    command, launched = command.removesuffix(TORCHRUN), command.endswith(TORCHRUN)
    args = _words(command)
    try:
        build_parser().parse_args(args)  # flags and choices exist (argparse exits on an error)
    except SystemExit as refused:
        said = capsys.readouterr().err
        # only a GPU example on a machine without one may be refused: with its reason and what to do instead
        assert refused.code == 2 and not torch.cuda.is_available() and "sees no CUDA device" in said and "leave --device out" in said, \
            f"{command}\n{said}"
        return
    how = "parse" if launched else _how(args)
    if how == "parse":
        return
    if _subcommand(args) == ("data", "prepare"):
        source = args.index("--source") + 1
        args[source] = str(quickdraw_dir / "full" / "simplified")
        if (workdir / args[args.index("--out") + 1]).exists():
            args.append("--force")
    if how == "dry-run":
        args.append("--dry-run")
    # prepare in its own interpreter (worker processes); what only plans or reads, in this one
    done = run_bench(*args, cwd=workdir, timeout=300) if how == "run" and _subcommand(args) == ("data", "prepare") \
        else bench_here(*args, cwd=workdir)
    assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
    if how == "dry-run":
        assert "would run" in done.stdout and not (workdir / "results" / "report").exists(), command


def test_help_examples_are_classified_and_include_the_one_command_benchmark():
    examples = help_examples("run")
    assert "bench run" in examples and len(examples) >= 5
    for command in WITH_EXAMPLES:
        found = help_examples(*command)
        assert found, command
        for example in found:
            _how(_words(example))


@pytest.mark.parametrize("command", WITH_EXAMPLES, ids=lambda c: " ".join(c) or "bench")
def test_every_help_example_works(command, workdir, quickdraw_dir, capsys):
    _check("bench data prepare --source x --categories 30 --out qd30.h5", workdir, quickdraw_dir, capsys)  # the file they name
    for example in help_examples(*command):
        assert _words(example)[:len(command)] == list(command) or not command, example
        _check(example, workdir, quickdraw_dir, capsys)


def test_every_readme_command_works(workdir, quickdraw_dir, capsys):
    commands = readme_commands()
    assert "bench run" in commands  # the README's first command is the one-command benchmark
    assert commands.index("bench run") == 0 or commands[0].startswith("bench run")
    assert any("--checkpoint WinKawaks/SketchXAI-Base-QuickDraw30" in c for c in commands)
    for command in commands:
        _check(command, workdir, quickdraw_dir, capsys)


def test_bench_run_alone_is_the_whole_demo_benchmark_and_its_report(workdir):
    done = bench_here("run", "--dry-run", cwd=workdir)
    assert done.returncode == 0, done.stderr
    planned = [line.split(" · ")[0].removeprefix("would run ") for line in done.stdout.splitlines()
               if line.startswith("would run")]
    assert list(dict.fromkeys(planned)) == ["recognition", "location_reliance", "sli_recovery", "sli_transfer",
                                            "stroke_deletion", "stroke_pointing", "sanity_randomisation"]
    # one run per explainer of an attribution task: the reference explainer and every control, named
    assert "would run stroke_pointing · stroke_vit_tiny · demo · seed 0 · explainer occlusion" in done.stdout
    assert "would run stroke_pointing · stroke_vit_tiny · demo · seed 0 · explainer stroke_length" in done.stdout
    assert "would run sli_recovery · stroke_vit_tiny · demo · seed 0 · preset published" in done.stdout
    assert "then write the report to results/report" in done.stdout
    named = bench_here("run", "--task", "recognition", "--dry-run", cwd=workdir)  # --task narrows: no report
    assert "would run recognition" in named.stdout and "sli_" not in named.stdout and "report" not in named.stdout


def test_bench_run_for_an_encoder_is_the_whole_benchmark_with_what_it_cannot_take_skipped(workdir):
    done = bench_here("run", "--encoder", "stroke_vit_tiny_no_location", "--dry-run", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "would run location_reliance · stroke_vit_tiny_no_location" in done.stdout
    assert "would run stroke_pointing · stroke_vit_tiny_no_location · demo · seed 0 · explainer occlusion" in done.stdout
    skipped = [line for line in done.stdout.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2 and all("needs encoder capabilities ['sli']" in line for line in skipped)
    assert "then write the report to results/report" in done.stdout
    # --explainer alone: the tasks that take one, for it beside the reference explainer and the controls
    explained = bench_here("run", "--encoder", "raster_cnn", "--explainer", "attention_rollout", "--explainer",
                          "gradient", "--dry-run", cwd=workdir)
    assert explained.returncode == 0, explained.stderr
    lines = explained.stdout.splitlines()
    assert not any(line.startswith("would run recognition") or "sli_" in line for line in lines)
    for explainer in ("gradient", "occlusion", "random", "stroke_length"):
        assert f"would run stroke_deletion · raster_cnn · demo · seed 0 · explainer {explainer}" in explained.stdout
    assert sum("explainer attention_rollout: explainer 'attention_rollout' needs encoder capabilities ['attention']"
               in line for line in lines if line.startswith("skipped")) == 3


def test_dry_run_names_the_classifier_it_would_train(workdir):
    done = bench_here("run", "--task", "sli_recovery", "--dry-run", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "would run sli_recovery · stroke_vit_tiny · demo" in done.stdout and "recognition classifier" in done.stdout
    bad = bench_here("run", "--set", "encoder.depth=6", "--dry-run", cwd=workdir)
    assert bad.returncode == 2 and "unknown" in bad.stderr and "depth" in bad.stderr
