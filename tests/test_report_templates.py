"""The HTML report comes from Jinja2 templates (package data): a folder named by
``BENCH_REPORT_TEMPLATES`` overrides single files (a reader restyles without code), and a missing
folder or a broken template is a one-line error naming the file."""

from __future__ import annotations

import pytest
from conftest import run_bench
from test_leaderboard import m, make_record, write

from benchmark.errors import BenchError
from benchmark.report.html import write_report
from benchmark.report.leaderboard import build
from benchmark.report.templating import ENV, MARKER, environment


@pytest.fixture
def results(tmp_path):
    write(tmp_path / "results", make_record("r1", {"top1": m(0.5, 0.4, 0.6)}, encoder="<script>x</script>"))
    return tmp_path / "results"


def test_the_package_ships_every_template_and_the_page_uses_them(results, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    env = environment()
    for name in ("report.html.j2", "board.html.j2", "plot.html.j2", "run.html.j2", "report.css"):
        assert env.get_template(name)
    page = write_report(build(results), tmp_path / "report").read_text()
    assert page.startswith(f"<!DOCTYPE html>\n{MARKER}\n")
    css = env.loader.get_source(env, "report.css")[0]
    assert css.strip().splitlines()[-1] in page  # report.css is the page's style


def test_a_user_folder_overrides_report_css_and_the_rest_stays(results, tmp_path, monkeypatch):
    style = tmp_path / "style"
    style.mkdir()
    (style / "report.css").write_text("body{background:#102030} /* restyled */\n")
    monkeypatch.setenv(ENV, str(style))
    page = write_report(build(results), tmp_path / "report").read_text()
    assert "body{background:#102030} /* restyled */" in page and "font-family:system-ui" not in page
    assert '<table class="board">' in page and "&lt;script&gt;x&lt;/script&gt;" in page  # the package's markup
    assert "<script>x</script>" not in page
    # a partial overridden the same way; its data are still escaped by autoescaping
    (style / "board.html.j2").write_text("{% macro board(b) %}<h2 id=\"{{ b.anchor }}\">{{ b.title }}!</h2>"
                                         "{% for row in b.rows %}<i>{{ row[0].text }}</i>{% endfor %}{% endmacro %}")
    page = write_report(build(results), tmp_path / "report").read_text()
    assert "recognition · demo!</h2><i>&lt;script&gt;x&lt;/script&gt;</i>" in page and "table class=\"board\"" not in page


def test_the_cli_takes_the_template_folder_from_the_environment(results, tmp_path):
    style = tmp_path / "style"
    style.mkdir()
    (style / "report.css").write_text("h1{color:#abcdef}\n")
    done = run_bench("leaderboard", "--results", str(results), "--out", str(tmp_path / "report"),
                     env={ENV: str(style)})
    assert done.returncode == 0, done.stderr
    assert "h1{color:#abcdef}" in (tmp_path / "report" / "index.html").read_text()
    missing = run_bench("leaderboard", "--results", str(results), "--out", str(tmp_path / "r2"),
                        env={ENV: str(tmp_path / "nowhere")})
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert f"{ENV}={tmp_path / 'nowhere'}: no such folder of report templates" in missing.stderr
    assert not (tmp_path / "r2").exists()


@pytest.mark.parametrize("name, text, said", [
    ("run.html.j2", "{% macro run(r) %}{{ r.run_id }{% endmacro %}", "run.html.j2, line 1: unexpected '}'"),
    ("plot.html.j2", "{% macro plot(p) %}{% endmacro %}{% macro absent(a) %}{% endmacro %}", None),
    ("board.html.j2", "{% macro board(b) %}{{ b.no_such_field }}{% endmacro %}", "board.html.j2, line 1: UndefinedError"),
    ("report.html.j2", "<!DOCTYPE html><p>no marker</p>", "must start with '<!DOCTYPE html>' and {{ marker }}"),
])
def test_a_broken_template_is_one_line_naming_its_file(results, tmp_path, monkeypatch, name, text, said):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / name).write_text(text)
    monkeypatch.setenv(ENV, str(folder))
    if said is None:  # an override may leave things out: the page still renders
        assert write_report(build(results), tmp_path / "report").is_file()
        return
    with pytest.raises(BenchError) as caught:
        write_report(build(results), tmp_path / "report")
    message = str(caught.value)
    assert said in message and "\n" not in message and message.startswith("report template ")
    assert not (tmp_path / "report").exists()  # nothing half-written
