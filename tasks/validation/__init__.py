"""Validation of the explainability measures themselves (in the spirit of MetaQuantus):
``python -m tasks.validation [--results DIR] [--seeds 0,1] [--max-sketches N] [--threads N] [--out FILE]``.

On the synthetic demo data, where the true layouts are known, every measure is run over a
*graded ladder* of classifiers whose layout knowledge is set by construction and measured by
location reliance (:data:`~tasks.validation.ladder.RUNGS`):

- ``known answer``: :mod:`tasks.validation.known_answer`, told the true layout, peaked exactly there;
- ``noise 0`` ... ``noise 1.6``: stroke_vit_tiny trained with more and more start-point noise
  (``recognition.location_noise``), so there is less and less to learn from where strokes are;
- ``raster CNN``: a location-reliant encoder of another design (no stroke tokens);
- ``no location`` (location reliance only): the ``stroke_vit_tiny_no_location`` ablation, which
  cannot see locations, so its reliance is 0 by construction;

and the **control** (never a rung): stroke_vit_tiny at random weights. Each seed (default 0 and 1)
trains its own classifiers and draws its own sketches and starts.

A measure is run through the real tasks (records in ``DIR/runs``, on the valid split, so the test
split stays untouched). It **holds** when (1) the Spearman correlation of the rungs' values (mean
over the seeds) with their measured reliance is at least 0.9 (with a bootstrap interval over
sketches); (2) in every seed, every pair of rungs whose reliance differs significantly (paired
test, Holm over the pairs) also differs significantly in the measure and the same way (its
declared paired test, Holm over the pairs); (3) the random-weights control scores zero (its 95% CI
contains 0) in every seed. *order only*: (1) but not (2) or (3); *fails*: not (1). The table
(Markdown, to stdout and ``--out``) is built from the records and ``DIR/ladder.json`` (which run is
which rung and seed) only. The manifest is written after every rung, a command with the same
settings goes on after the last finished rung, and a trained classifier already in the folder
(same encoder, settings and seed) is reused.

Where each part lives: :mod:`tasks.validation.ladder` (rungs, measures, running the ladder, the
verdicts, the table; ``main``), :mod:`tasks.validation.known_answer` (the known-answer classifier,
a one-file plugin), ``__main__`` (``python -m tasks.validation``).
"""

from tasks.validation.ladder import (CONTROL, MEASURES, PLUGIN, RELIANCE, RUNGS, Measure, Rung, Setup, build_ladder,
                                     evaluate, main, markdown)

__all__ = ["CONTROL", "MEASURES", "PLUGIN", "RELIANCE", "RUNGS", "Measure", "Rung", "Setup", "build_ladder",
           "evaluate", "main", "markdown"]
