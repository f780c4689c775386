"""Validation of the explainability measures themselves (in the spirit of MetaQuantus):
``python -m tasks.validation [--results DIR] [--max-sketches N] [--threads N] [--out FILE]``.

On the synthetic demo data, where the true layouts are known, every measure is run over a
*ladder* of classifiers whose order is known in advance (best first):

1. ``known answer``: :mod:`tasks.validation.known_answer`, told the true layout, peaked exactly there;
2. ``well trained``: stroke_vit_tiny with the default recipe;
3. ``under trained``: stroke_vit_tiny with the published recipe and the reference initialisation
   (on demo it learns the shapes but barely the layout);
4. ``random weights``: stroke_vit_tiny at random weights (the model-randomisation control; the
   skill measures, relative to a classifier's own random weights, start at ``well trained``: the known
   answer has no weights to randomise);
5. ``no location`` (location reliance only): the ``stroke_vit_tiny_no_location`` ablation, which
   cannot see locations, so its reliance is 0 by construction.

A measure is run through the real tasks (records in ``DIR/runs``, on the valid split, so the test
split stays untouched), and each adjacent pair of rungs is compared with the paired test the
measure declares (:func:`benchmark.report.significance.compare`). A measure *holds* when every
adjacent pair is in the expected order and the difference is significant at the 0.05 level;
*direction only* when the order is right but some step is not significant; it *fails* when some
lower rung scores higher. The table (Markdown, to stdout and ``--out``) is built from the records
and ``DIR/ladder.json`` (which run is which rung) only. The manifest is written after every rung,
and a command with the same settings goes on after the last finished rung.

Where each part lives: :mod:`tasks.validation.ladder` (rungs, measures, running the ladder, the
table; ``main``), :mod:`tasks.validation.known_answer` (the known-answer classifier, a one-file
plugin), ``__main__`` (``python -m tasks.validation``).
"""

from tasks.validation.ladder import MEASURES, PLUGIN, RUNGS, Measure, Rung, Setup, build_ladder, evaluate, main, markdown

__all__ = ["MEASURES", "PLUGIN", "RUNGS", "Measure", "Rung", "Setup", "build_ladder", "evaluate", "main", "markdown"]
