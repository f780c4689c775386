"""The HTML report in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``,
driven by Selenium) loads a report built from real runs (stroke_vit_tiny and raster_cnn, recognition
and both SLI tasks, kept short), and the report of every committed results folder (``results/demo``
with its attribution runs, ``results/quickdraw30``, ``results/validation/demo``), and checks what a
reader sees at 1280 px: no horizontal overflow, every image and inline SVG loaded and drawn, a sketch
on the first screen, the plots drawn. Skips with the reason where Selenium or the browser is absent
(``.ci/run`` installs them as root)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, run_bench
from test_leaderboard import write
from test_report_pictures import _pointing_records

from benchmark.report.html import write_report
from benchmark.report.leaderboard import build
from benchmark.report.publish import collections
from tasks.attribution.pictures import mean_roc

WIDTH, HEIGHT = 1280, 800
#: Every committed folder of run records (what ``python -m benchmark.report.publish`` renders).
COMMITTED = collections(ROOT / "results")
DRIVERS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def _first(paths, name):
    found = next((p for p in paths if os.path.exists(p)), None) or shutil.which(name)
    return found


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="Selenium not installed (pip install -e '.[test]')")
    from selenium.webdriver.chrome.service import Service

    driver_path, browser_path = _first(DRIVERS, "chromedriver"), _first(BROWSERS, "chromium")
    if not (driver_path and browser_path):
        pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver; .ci/run does it "
                    "as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={WIDTH},{HEIGHT}", "--allow-file-access-from-files", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """``bench run ... --report``: two encoders, recognition and both SLI tasks, briefly."""
    results = tmp_path_factory.mktemp("browser") / "results"
    done = run_bench("run", "--data", "demo", "--encoder", "stroke_vit_tiny", "--encoder", "raster_cnn",
                     "--task", "recognition", "--task", "sli_recovery", "--task", "sli_transfer",
                     "--set", "recognition.epochs=1", "--set", "task.max_sketches=12", "--set", "task.steps=8",
                     "--set", "task.pictures=4", "--threads", "1", "--results", str(results),
                     "--report", str(results / "report"))
    assert done.returncode == 0, done.stderr
    index = results / "report" / "index.html"
    assert f"report: {index}" in done.stdout and "SLI (published) · demo" in done.stdout  # path, the terminal boards
    return index


def _load(browser, index: Path) -> None:
    browser.set_window_size(WIDTH, HEIGHT)
    browser.get(index.as_uri())
    browser.execute_script("return document.readyState")
    viewport = browser.execute_script("return window.innerWidth")
    if viewport != WIDTH:  # the window's frame: make the page itself 1280 px wide
        browser.set_window_size(WIDTH + (WIDTH - viewport), HEIGHT)
        browser.get(index.as_uri())
    assert browser.execute_script("return window.innerWidth") == WIDTH


def test_report_fits_1280_px_and_everything_loads(browser, report):
    _load(browser, report)
    overflow = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert max(overflow[:2]) <= overflow[2], f"horizontal overflow: {overflow}"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    assert len(images) >= 4  # a strip per SLI run
    broken = [src for src, complete, width in images if not (complete and width > 0)]
    assert not broken, f"images that did not load: {broken}"
    svgs = browser.execute_script(
        "return Array.from(document.querySelectorAll('svg')).map(s => { const b = s.getBoundingClientRect();"
        " return [b.width, b.height, s.querySelectorAll('polyline').length]; })")
    # four plots (SLI target probability per step for recovery and transfer; local fidelity and layout
    # preference by start noise, each with its chance line), a line per run
    assert len(svgs) == 4 and all(w > 100 and h > 100 and lines >= 2 for w, h, lines in svgs), svgs
    # no cell, header or table sticks out of the page
    wide = browser.execute_script(
        "return Array.from(document.querySelectorAll('table, th, td, img, svg, pre')).filter("
        "el => el.getBoundingClientRect().right > window.innerWidth + 0.5).map(el => el.outerHTML.slice(0, 80))")
    assert not wide, wide


def test_a_sketch_is_on_the_first_screen(browser, report):
    _load(browser, report)
    seen = browser.execute_script(
        "return Array.from(document.querySelectorAll('.strip img')).filter(i => { const b = i.getBoundingClientRect();"
        " return i.complete && i.naturalWidth > 0 && b.top >= 0 && b.top + 40 <= window.innerHeight && b.width > 50; })"
        ".map(i => i.getAttribute('src'))")
    assert seen, "no thumbnail strip above the fold"
    # the first board's headline cells are on the first screen too, and a folded run opens in one click
    top = browser.execute_script("return document.querySelector('table.board').getBoundingClientRect().top")
    assert top < HEIGHT / 3
    assert browser.execute_script("return document.querySelector('section.run details').open") is False
    browser.find_element("css selector", "section.run details summary").click()
    assert browser.execute_script("return document.querySelector('section.run details').open") is True


def test_each_note_once_and_plain_words(report):
    page = report.read_text()
    assert page.count("is synthetic (procedurally drawn), not human sketches") == 1
    assert "(every run)" in page
    assert "at step never" not in page
    gallery = next((report.parent / "galleries").glob("*sli_transfer*")) / "index.html"
    assert "at step never" not in gallery.read_text()


@pytest.fixture(scope="module", params=COMMITTED, ids=[str(f.relative_to(ROOT / "results")) for f in COMMITTED])
def committed(request, tmp_path_factory) -> Path:
    """``bench leaderboard --format html`` of one committed results folder."""
    out = tmp_path_factory.mktemp("committed") / "report"
    done = run_bench("leaderboard", "--results", str(request.param), "--format", "html", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out / "index.html"


def test_every_committed_folder_renders_and_its_images_load(browser, committed):
    _load(browser, committed)
    width, height, viewport = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight, window.innerWidth]")
    assert width <= viewport and height < 12_000, (width, height)  # one board per question, the runs folded
    titles = browser.execute_script("return Array.from(document.querySelectorAll('h2[id^=board-]')).map("
                                    "h => [h.textContent, h.getBoundingClientRect().height > 0])")
    assert titles and all(shown for _, shown in titles)  # every board's headline visible, nothing to expand
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    broken = [src for src, complete, width in images if not (complete and width > 0)]
    assert not broken, f"images that did not load: {broken}"
    links = browser.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
    missing = [h for h in links if not h.startswith(("#", "http")) and not (committed.parent / h).exists()]
    assert not missing, f"links to files the report does not have: {missing}"
    plots = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure.plot')).map(f => { const b = f.getBoundingClientRect();"
        " return [f.querySelector('svg title, h3').textContent, b.width, b.height, b.right]; })")
    assert all(w > 100 and h > 50 and right <= WIDTH for _, w, h, right in plots), plots
    if "stroke_pointing" in committed.read_text():  # drawn, or its place saying the records predate it
        assert any(title.startswith("Stroke pointing ROC") for title, *_ in plots), plots


def test_the_pointing_roc_is_drawn_with_its_chance_line_and_fits(browser, tmp_path):
    """A pointing ROC (records carrying ``pointing_roc``): one line per encoder x explainer, the
    chance diagonal, the legend naming both, inside 1280 px."""
    roc = mean_roc([([0.9, 0.1, 0.5, 0.2], [1, 0, 1, 0]), ([0.2, 0.3, 0.1], [1, 0, 0])], 0, "Stroke pointing ROC")
    write(tmp_path / "results", *_pointing_records(roc))
    index = write_report(build(tmp_path / "results"), tmp_path / "report")
    _load(browser, index)
    width, viewport = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= viewport
    svg = browser.execute_script(
        "const s = document.querySelector('figure.plot svg'); const b = s.getBoundingClientRect();"
        " return [b.width, b.height, s.querySelectorAll('polyline').length, s.querySelectorAll('.reference').length,"
        " s.closest('figure').querySelector('figcaption').textContent];")
    assert svg[0] > 300 and svg[1] > 150 and svg[2] == 3 and svg[3] == 1, svg
    assert "enc_vit · occlusion" in svg[4] and "chance" in svg[4]
