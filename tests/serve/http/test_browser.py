"""The report page in a real browser: headless Chromium (the Debian package, never a downloaded
one) driven by Playwright, against `python -m xorlab.serve` (gunicorn) serving the committed repository.

With JavaScript: the verdict is the report's, every picture loads with alt text that states its
finding, the form gets its answer from the predict API without leaving the page, and nothing goes
to the console as an error (a CSP violation would). Without JavaScript: the verdict, the tables and
the pictures are all there, and the form still answers by posting to the page. Then the same page
for a run too short to decide (trained here, 2,001 steps). A screenshot of each goes to the test's
folder and to test-output/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from tests import ROOT
from tests.prerequisites import install
from tools.live_server import running

pytest.importorskip("playwright")
from playwright.sync_api import sync_playwright

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000  # generous: the CI machine may be busy; every wait is bounded by it


@pytest.fixture(scope="module")
def report(committed_server) -> dict:
    return requests.get(f"{committed_server.url}/v1/report", timeout=10).json()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip(f"no chromium on PATH: {install('chromium')}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=2 * TIMEOUT_MS)
        try:
            yield b
        finally:
            b.close()


class Watched:
    """A page with every console error, script error, failed or refused request recorded."""

    def __init__(self, context, origin: str):
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status}: {r.url}"))
        # Everything must come from the service itself.
        self.page.on("request", lambda r: r.url.startswith(origin) or self.problems.append(f"elsewhere: {r.url}"))


def save_screenshot(page, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    shutil.copy(shot, out / name)


def images(page) -> list[dict]:
    return [
        {
            "src": img.get_attribute("src"),
            "alt": img.get_attribute("alt"),
            "width": img.evaluate("i => i.complete ? i.naturalWidth : 0"),
        }
        for img in page.locator("img").all()
    ]


def test_the_page_shows_the_verdict_pictures_and_answers_the_form(committed_server, report, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        watched = Watched(context, committed_server.url)
        page = watched.page
        page.goto(committed_server.url + "/", wait_until="load")

        assert page.locator("h1").inner_text() == "Which architecture solves XOR?"
        assert page.locator("#verdict").inner_text() == report["verdict"]
        for name in report["models"]:
            assert page.locator(f"#model-{name}").count() == 1

        shown = images(page)
        assert sorted(img["src"] for img in shown) == sorted(p["url"] for p in report["pictures"])
        assert len(shown) >= 1
        titles = {p["url"]: p["title"] for p in report["pictures"]}
        for img in shown:
            assert img["width"] > 0, f"{img['src']} did not load"
            assert img["alt"] and img["alt"] != titles[img["src"]], f"{img['src']}: its alt text is only its title"

        # The form, through the script: the answer is the predict API's, and the page stays.
        expected = requests.post(
            f"{committed_server.url}/v1/models/deep:predict", json={"instances": [[1, 0]]}, timeout=10
        )
        p = expected.json()["predictions"][0]
        page.fill("input[name=x1]", "1")
        page.fill("input[name=x2]", "0")
        page.select_option("select[name=model]", "deep")
        with page.expect_response(lambda r: r.url.endswith("/v1/models/deep:predict")) as answered:
            page.click("button[type=submit]")
        assert answered.value.status == 200
        page.wait_for_function("document.getElementById('answer').textContent.includes('P(y=1)')", timeout=TIMEOUT_MS)
        assert page.locator("#answer").inner_text() == f"deep(1, 0): P(y=1) = {p:.4f} → class {int(p > 0.5)}"
        assert page.url == committed_server.url + "/"  # answered in place, not by posting the form

        save_screenshot(page, tmp_path, "report-page.png")
        assert watched.problems == []
    finally:
        context.close()


def test_the_page_without_javascript(committed_server, report, browser, tmp_path):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        watched = Watched(context, committed_server.url)
        page = watched.page
        pictures = set()
        page.on(
            "response",
            lambda r: (
                "/pictures/" in r.url
                and r.status == 200
                and r.headers["content-type"] == "image/png"
                and pictures.add(r.url.removeprefix(committed_server.url))
            ),
        )
        page.goto(committed_server.url + "/", wait_until="load")

        assert page.locator("#verdict").inner_text() == report["verdict"]
        rows = page.locator("table.models tbody tr")
        assert rows.count() == len(report["models"])
        if report["study"]:
            assert page.locator("table.capacity tbody tr").count() == 16
        assert pictures == {p["url"] for p in report["pictures"]}
        for img in page.locator("img").all():
            box = img.bounding_box()
            assert box and box["width"] > 0 and box["height"] > 0

        # The form posts to the page, which renders the answer.
        page.fill("input[name=x1]", "0")
        page.fill("input[name=x2]", "0")
        page.select_option("select[name=model]", "mlp")
        with page.expect_navigation():
            page.click("button[type=submit]")
        p = requests.post(
            f"{committed_server.url}/v1/models/mlp:predict", json={"instances": [[0, 0]]}, timeout=10
        ).json()["predictions"][0]
        assert page.locator("#answer").inner_text() == f"mlp(0, 0): P(y=1) = {p:.4f} → class {int(p > 0.5)}"
        assert page.locator("#verdict").inner_text() == report["verdict"]

        save_screenshot(page, tmp_path, "report-page-nojs.png")
        assert watched.problems == []
    finally:
        context.close()


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    """A repository from a run too short to decide: 2,001 steps, a small study."""
    from xorlab.train.config import TrainConfig
    from xorlab.train.pipeline import run

    out = tmp_path_factory.mktemp("short") / "models"
    run(TrainConfig(steps=2001, study_seeds=60, function_seeds=4, device="cpu", out=str(out)))
    return out


@pytest.mark.slow
def test_a_run_too_short_to_decide_says_so(short_run, browser, tmp_path):
    with running(tmp_path, short_run) as srv:
        report = requests.get(f"{srv.url}/v1/report", timeout=10).json()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            watched = Watched(context, srv.url)
            page = watched.page
            page.goto(srv.url + "/", wait_until="load")
            verdict = page.locator("#verdict").inner_text()
            assert verdict == report["verdict"]
            assert "the run was too short to decide for deep" in verdict and "stuck at ln 2 (deep" not in verdict
            assert "too short to decide" in page.locator("#model-deep").inner_text()
            assert page.locator("#model-perceptron td.tie").count() == 4  # 0.5 and 0.49999997: ties, not sides
            for img in images(page):
                assert img["width"] > 0 and img["alt"], img["src"]
            save_screenshot(page, tmp_path, "report-page-short.png")
            assert watched.problems == []
        finally:
            context.close()
