"""Reporting, from run records only: the leaderboard (:mod:`.leaderboard`), its paired tests
(:mod:`.significance`), renderers (:mod:`.render`: table, Markdown, CSV, JSON; :mod:`.html`: the
report folder), ``bench leaderboard`` (:mod:`.cli`) and the committed leaderboards (:mod:`.publish`)."""
