"""The HTML report in a real browser: headless Chromium draws every chart offline, logs no error, sorts.

Tooling: Selenium with Debian's ``chromedriver`` (the same Chromium build as
``chromium``).  WebDriver gives the clicks and waits; its ``goog:loggingPrefs``
give the console (``browser`` log) and every request the page made
(``performance`` log: Chrome DevTools ``Network.requestWillBeSent`` events), so
no hand-written DevTools client is needed.  Selenium Manager is never asked to
find or download anything: both paths are given.

Without Chromium (or chromedriver, or selenium) the tests skip with the reason,
unless ``TRACKDAG_REQUIRE_BROWSER=1`` (CI sets it), where they fail.  Paths:
``TRACKDAG_CHROMIUM`` / ``TRACKDAG_CHROMEDRIVER`` (default: ``chromium`` and
``chromedriver`` on PATH, then /usr/bin).  A full-page screenshot of the demo's
report is saved to ``$TRACKDAG_TEST_ARTIFACTS`` (default ``tests/artifacts``)
as ``browser-report.png``.
"""
import base64
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import label_catalog, label_pipeline, run_demo
from trackdag.html_report import build_html_report, write_html_report

ARTIFACTS = Path(os.environ.get("TRACKDAG_TEST_ARTIFACTS") or Path(__file__).parent / "artifacts")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1400,1000"]
XSS = "<script>alert(1)</script>"


def _find(env: str, name: str) -> str | None:
    path = os.environ.get(env) or shutil.which(name) or f"/usr/bin/{name}"
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def _unavailable(reason: str) -> None:
    if os.environ.get("TRACKDAG_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TRACKDAG_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason} (install Debian's chromium and chromium-driver; CI does)")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[dev]')")
    chromium, chromedriver = _find("TRACKDAG_CHROMIUM", "chromium"), _find("TRACKDAG_CHROMEDRIVER", "chromedriver")
    if chromium is None or chromedriver is None:
        _unavailable(f"no {'chromium' if chromium is None else 'chromedriver'} found")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager, if ever consulted, must not go online
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def _open(browser, page: Path) -> None:
    """Load ``page`` after a blank one, with the logs of the browser's own start-up drained."""
    browser.get("about:blank")
    browser.get_log("performance")
    browser.get_log("browser")
    browser.get(page.as_uri())


def _wait_for_charts(browser) -> list[dict]:
    """Bounded poll until every chart placeholder says it rendered (or failed); then what each drew."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60, poll_frequency=0.1).until(lambda b: b.execute_script(
        "return Array.from(document.querySelectorAll('div.td-chart'))"
        ".every(el => el.hasAttribute('data-rendered'))"))
    return browser.execute_script("""
        return Array.from(document.querySelectorAll('div.td-chart')).map(el => ({
            name: el.dataset.name, rendered: el.dataset.rendered,
            svg: el.querySelectorAll('svg').length, canvas: el.querySelectorAll('canvas').length,
            marks: el.querySelectorAll('svg .role-mark > *').length}));""")


def _requests(browser) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            params = message["params"]
            urls.append(params["request"]["url"] if "request" in params else params["url"])
    return urls


def _errors(browser) -> list[dict]:
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _column(browser, table: str, index: int) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))"
        ".map(r => r.cells[arguments[1]].getAttribute('data-sort'));", table, index)


def _save_screenshot(browser, name: str) -> Path:
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(height + 40, 16000))
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory):
    root = run_demo(tmp_path_factory.mktemp("browser") / "demo")
    return Path(write_html_report(root / "report.html", root).path)


def test_demo_report_renders_offline_without_errors_and_sorts(driver, demo_page):
    from selenium.webdriver.common.by import By

    _open(driver, demo_page)
    charts = _wait_for_charts(driver)
    assert len(charts) == 7
    for chart in charts:  # every chart drew: an SVG with marks in it
        assert chart["rendered"] == "yes" and chart["svg"] >= 1 and chart["marks"] > 0, chart
    requests = _requests(driver)
    assert requests and all(url.startswith(LOCAL_SCHEMES) for url in requests), requests
    assert _errors(driver) == []

    # the leaderboard: rank order first; a header click sorts by it, a second click reverses
    board = "#leaderboard-0"
    ranks = _column(driver, board, 0)
    assert ranks == [str(i) for i in range(1, 9)]
    by_rank = _column(driver, board, 1)
    header = driver.find_element(By.XPATH, "//table[@id='leaderboard-0']//th[normalize-space()='param_hashid']")
    header.click()
    assert _column(driver, board, 1) == sorted(by_rank) != by_rank
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert _column(driver, board, 1) == sorted(by_rank, reverse=True)
    param1 = driver.find_element(By.XPATH, "//table[@id='leaderboard-0']//th[normalize-space()='stage1_predict.param1']")
    param1.click()  # numeric: 32 < 123, not as text
    values = [int(v) for v in _column(driver, board, 5)]
    assert values == sorted(values) and values[0] == 32
    accuracy = driver.find_element(By.XPATH, "//table[@id='leaderboard-0']//th[normalize-space()='accuracy']")
    accuracy.click()  # a maximized metric sorts best first
    values = [float(v) for v in _column(driver, board, 2)]
    assert values == sorted(values, reverse=True)
    rank = driver.find_element(By.XPATH, "//table[@id='leaderboard-0']//th[normalize-space()='rank']")
    rank.click()  # back to the leaderboard's order
    assert _column(driver, board, 0) == ranks and rank.get_attribute("aria-sort") == "ascending"
    assert _errors(driver) == []
    shot = _save_screenshot(driver, "browser-report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_hostile_values_show_as_text_and_run_nothing(driver, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException

    root = label_catalog(tmp_path, [XSS, "plain"], [1, 2, 3], fail_at="3")
    text, _n, _notes = build_html_report(root, pipeline=label_pipeline(tmp_path))
    page = tmp_path / "hostile.html"
    page.write_text(text, encoding="utf-8")
    _open(driver, page)
    charts = _wait_for_charts(driver)
    assert charts and all(c["rendered"] == "yes" and c["marks"] > 0 for c in charts)
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018  (the property raises when no alert is open)
    cells = driver.execute_script("return Array.from(document.querySelectorAll('#leaderboard-0 tbody td'))"
                                  ".map(td => td.textContent);")
    assert XSS in cells  # shown as text, without Python quotes
    stderr = driver.execute_script("return Array.from(document.querySelectorAll('pre.stderr'))"
                                   ".map(p => p.textContent);")
    assert len(stderr) == 2 and all("<img src=x onerror=alert(2)>" in s for s in stderr)
    assert driver.execute_script("return document.querySelectorAll('img').length") == 0
    assert all(url.startswith(LOCAL_SCHEMES) for url in _requests(driver))
    assert _errors(driver) == []
