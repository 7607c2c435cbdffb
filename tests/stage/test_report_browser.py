"""Open the generated report in headless Chromium: every figure renders, no console error.

Needs the Debian packages `chromium` and `chromium-driver` and the pip package `selenium`;
skipped (with the reason) only when they are absent. The screenshot stays in the test's tmp dir.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_report_fixture import make_run  # noqa: E402

from octothinker.report import run_report  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,2000",
]


@pytest.fixture
def driver(tmp_path):
    if not (CHROMIUM and DRIVER):
        pytest.skip("headless Chromium not installed: apt-get install -y chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def test_report_renders_in_chromium(tmp_path, driver):
    a, b = make_run(tmp_path, "runA"), make_run(tmp_path, "runB", strength=0.5)
    index = run_report(a, compare=[b]) / "index.html"
    driver.get(index.resolve().as_uri())
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);"
    )
    assert len(images) == 6
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, f"figure {alt!r} did not render"
    tables = driver.execute_script("return document.querySelectorAll('table').length;")
    assert tables >= 6
    errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
    assert errors == [], errors
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_findings_page_renders_in_chromium(tmp_path, driver, monkeypatch):
    """The experiment's findings index.html (fixture seeds, no training) renders every figure without errors."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_experiment_report import fake_pipeline

    from octothinker import pipeline
    from octothinker.config import recipe_from_dict
    from octothinker.experiment.fixtures import fixture_recipe_dict
    from octothinker.experiment.runner import run_experiment

    monkeypatch.setattr(pipeline, "run_pipeline", fake_pipeline([]))
    out = run_experiment(recipe_from_dict(fixture_recipe_dict(tmp_path / "runs")), echo=lambda s: None)
    driver.get((out / "index.html").resolve().as_uri())
    images = driver.execute_script("return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]);")
    assert images, "the findings page has no figures"
    for alt, complete, width in images:
        assert complete and width > 0, f"figure {alt!r} did not render"
    errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
    assert errors == [], errors
    assert driver.save_screenshot(str(tmp_path / "findings.png"))
