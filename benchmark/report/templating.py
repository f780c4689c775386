"""The report's Jinja2 templates: the package's ``benchmark/report/templates/`` (package data:
``report.html.j2``, the page; ``board.html.j2``, ``plot.html.j2`` and ``run.html.j2``, the macros it
imports; ``report.css``, included in the page's ``<style>``), searched after the folder that
``BENCH_REPORT_TEMPLATES`` names when it is set. A file in that folder replaces the package's file
of the same name, the others stay the package's: a ``report.css`` there restyles the report without
touching code.

Autoescaping is on for every template except ``*.css``: templates get the records' text as it is
(names, notes, configurations) and Jinja2 escapes it once, where it is written; Python marks nothing
as safe markup but the page's :data:`MARKER` comment. An undefined name is an error (a template's
typo fails the report instead of printing nothing). A template that cannot be found, read, compiled
or rendered is one :class:`~benchmark.errors.BenchError` line naming its file (and line).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from benchmark.errors import BenchError

#: The environment variable naming a folder of templates searched before the package's.
ENV = "BENCH_REPORT_TEMPLATES"
PAGE = "report.html.j2"
#: The first line after the doctype of every page: a later report recognises its folder by it.
MARKER = Markup("<!-- sketchxai-bench report -->")
_SUFFIXES = (".j2", ".css")


def environment(user: str | os.PathLike | None = None) -> jinja2.Environment:
    """The template environment: ``user`` (a folder) first, then the package's templates."""
    loaders: list[jinja2.BaseLoader] = []
    if user:
        if not Path(user).is_dir():
            raise BenchError(f"{ENV}={user}: no such folder of report templates (unset {ENV} to use the "
                             f"built-in ones)")
        loaders.append(jinja2.FileSystemLoader(user))
    loaders.append(jinja2.PackageLoader("benchmark.report", "templates"))
    return jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                              autoescape=jinja2.select_autoescape(disabled_extensions=("css",), default=True),
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_page(context: dict[str, Any]) -> str:
    """:data:`PAGE` rendered with ``context`` (and ``marker``) in the :func:`environment` of
    ``$BENCH_REPORT_TEMPLATES``; a page that lost the marker is an error too."""
    user = os.environ.get(ENV) or None
    env = environment(user)
    try:
        text = env.get_template(PAGE).render(marker=MARKER, **context)
    except jinja2.TemplateNotFound as exc:
        where = f"{user} or the package's templates" if user else "the package's templates"
        raise BenchError(f"report template {exc.name} not found in {where}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise BenchError(f"report template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}") from None
    except Exception as exc:  # noqa: BLE001 - the context is plain data: what fails here is a template
        raise BenchError(f"report template {_where(exc)}: {exc.__class__.__name__}: {exc}") from None
    if MARKER not in text[:200]:
        raise BenchError(f"report template {PAGE} ({user or 'package'}): the page must start with "
                         f"'<!DOCTYPE html>' and {{{{ marker }}}} (a later report recognises its folder by it)")
    return text


def _where(exc: BaseException) -> str:
    """The template file and line an error was raised in (Jinja2 puts the template's frames in
    the traceback), else the page's name."""
    where = PAGE
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith(_SUFFIXES):
            where = f"{name}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return where
