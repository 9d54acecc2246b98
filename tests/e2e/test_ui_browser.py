"""The evaluator's pages in real headless Chromium, against real gunicorn serving the demo
collaboration from SQLite and from PostgreSQL: log in with a token, move the date slider, follow
a reflection to the changes it caused, switch language, read the charts, the diff and the
register.

Every test fails on a console error or a failed request. Screenshots go to
test-artifacts/ui/<backend>/ and each page's server time (its Server-Timing header) is reported
at the end. Without Chromium these tests are skipped locally, loudly, and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import IN_CI, database_url
from tests.e2e.conftest import free_port, ledger_command, stop, wait_until_healthy

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--window-size=1280,1000", "--lang=nl-BE")  # fmt: skip
WAIT_SECONDS = 10
REFLECTION = "Leergeschiedenis van ons eerste jaar"
DECISION = "Herziene missie en waarden"


@dataclass(frozen=True)
class UiServer:
    url: str
    token: str
    collaboration_id: str
    artifacts: Path  # where the screenshots of this server's pages go

    def page(self, path: str = "") -> str:
        return f"{self.url}/ui/c/{self.collaboration_id}/{path}"


def _unavailable(reason: str) -> None:
    message = f"BROWSER TESTS NOT RUN: {reason}"
    if IN_CI:
        pytest.fail(f"{message}; CI must run them")
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


@pytest.fixture(scope="module")
def ui_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[UiServer]:
    """gunicorn on a database seeded with the demo, and an evaluator token for it."""
    directory = tmp_path_factory.mktemp("ui")
    env = {**os.environ, "LEDGER_DATABASE_URL": database_url(backend, directory, request),
           "LEDGER_LOG_LEVEL": "WARNING"}  # fmt: skip
    artifacts = ARTIFACTS / backend
    artifacts.mkdir(parents=True, exist_ok=True)
    collaboration_id = ledger_command("demo", env=env).strip()
    token = ledger_command("token", "create", "--name", "ui-evaluator", "--role", "evaluator",
                           "--collaboration", collaboration_id, env=env).strip()  # fmt: skip
    port = free_port()
    with (directory / "gunicorn.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ledger", "serve", "--port", str(port), "--workers", "2"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process)
            yield UiServer(url, token, collaboration_id, artifacts)
        finally:
            stop(process)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        from selenium import webdriver
    except ImportError:
        _unavailable("selenium is not installed (pip install selenium)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        _unavailable("Chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.add_experimental_option("prefs", {"intl.accept_languages": "nl-BE,nl"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=str(driver_path)))  # fmt: skip
    driver.set_page_load_timeout(30)
    driver.get("about:blank")
    problems(driver)  # Chromium's own start page fails offline: not ours to judge
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def timings(
    ui_server: UiServer, backend: str, request: pytest.FixtureRequest
) -> Iterator[list[tuple[str, float]]]:
    """Each page's server time; reported (not asserted) when the backend's tests are done."""
    found: list[tuple[str, float]] = []
    yield found
    if not found:
        return
    lines = [f"{ms:8.1f} ms  {page}" for page, ms in found]
    summary = (f"UI pages' server time (Server-Timing, demo data, {backend}): max {max(ms for _, ms in found):.1f} ms, "
               f"{sum(ms < 200 for _, ms in found)}/{len(found)} under 200 ms")  # fmt: skip
    (ui_server.artifacts / "timings.txt").write_text("\n".join([summary, *lines]) + "\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown in the test output, not captured
            reporter.write_line("")
            for line in [summary, *lines]:
                reporter.write_line(line)


@pytest.fixture(scope="module")
def session(browser: Any, ui_server: UiServer) -> Any:
    """The browser, logged in through the login form by pasting the token."""
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})  # the other backend's session
    browser.get(f"{ui_server.url}/ui/")
    wait_for(browser, lambda d: "/ui/login" in d.current_url)
    browser.find_element(By.ID, "token").send_keys(ui_server.token)
    screenshot(browser, ui_server, "01-login")
    browser.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    wait_for(browser, lambda d: d.current_url.rstrip("/").endswith("/ui"))
    return browser


# Helpers


def wait_for(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS).until(condition)


def screenshot(driver: Any, ui_server: UiServer, name: str) -> None:
    """The whole page, not only the window."""
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    import base64

    (ui_server.artifacts / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def visit(driver: Any, url: str, timings: list[tuple[str, float]]) -> None:
    driver.get(url)
    wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete")
    record_timing(driver, timings)


def record_timing(driver: Any, timings: list[tuple[str, float]]) -> None:
    entries = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return n ? n.serverTiming.map(t => [t.name, t.duration]) : [];"
    )
    for name, duration in entries:
        if name == "app":
            path = driver.current_url.split("/ui", 1)[-1]
            timings.append((f"/ui{path}", float(duration)))


def record_fetch_timings(driver: Any, timings: list[tuple[str, float]]) -> None:
    """The server time of the pages the slider fetched in place."""
    entries = driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => e.initiatorType === 'fetch')"
        ".map(e => [e.name, (e.serverTiming.find(t => t.name === 'app') || {}).duration]);"
    )
    for url, duration in entries:
        if duration is not None:
            timings.append((f"/ui{url.split('/ui', 1)[-1]} (fetched)", float(duration)))


def problems(driver: Any) -> list[str]:
    """Console errors and failed requests since the last call."""
    found = [
        f"console: {e['message']}" for e in driver.get_log("browser") if e["level"] == "SEVERE"
    ]
    urls: dict[str, str] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif (
            message["method"] == "Network.responseReceived" and params["response"]["status"] >= 400
        ):
            found.append(f"{params['response']['status']}: {params['response']['url']}")
        elif message["method"] == "Network.loadingFailed":
            found.append(f"failed: {params.get('errorText')} {urls.get(params['requestId'], '?')}")
    return found


def assert_clean(driver: Any) -> None:
    assert problems(driver) == []


def click(driver: Any, css: str) -> None:
    """Click like a person: on the element, once it is scrolled into view."""
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def text_of(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


# Tests


def test_logging_in_keeps_the_token_in_an_httponly_strict_cookie_not_the_url(
    session: Any, ui_server: UiServer
) -> None:
    cookie = session.get_cookie("ledger_session")
    assert cookie is not None
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/ui")
    assert ui_server.token not in session.current_url
    assert "Leerecosysteem Kanaalzone" in text_of(session, "main")
    screenshot(session, ui_server, "02-collaborations")
    assert_clean(session)


def test_the_date_slider_moves_the_overview_through_time(
    session: Any, ui_server: UiServer, timings: list[tuple[str, float]]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    visit(session, ui_server.page(), timings)
    slider = wait_for(session, lambda d: d.find_element(By.ID, "at-slider"))
    wait_for(session, lambda d: slider.is_displayed())
    today = datetime.now(UTC).date().isoformat()
    assert session.find_element(By.ID, "state").get_attribute("data-at") == today
    assert "verankering" in text_of(session, "#phase-title + p")

    slider.send_keys(Keys.HOME)
    first_day = slider.get_attribute("data-start")
    wait_for(
        session, lambda d: d.find_element(By.ID, "state").get_attribute("data-at") == first_day
    )
    assert "verkenning" in text_of(session, "#phase-title + p")
    assert len(session.find_elements(By.CSS_SELECTOR, "#partners tbody tr")) == 3
    assert f"at={first_day}" in session.current_url
    assert session.switch_to.active_element == slider  # the keyboard stays where it was
    screenshot(session, ui_server, "03-overview-founding-day")

    founding_label = slider.get_attribute("aria-valuetext")
    slider.send_keys(Keys.ARROW_RIGHT * 100)
    wait_for(session, lambda d: "opbouw" in text_of(d, "#phase-title + p"))
    assert slider.get_attribute("aria-valuetext") not in (None, "", founding_label)
    screenshot(session, ui_server, "04-overview-100-days-later")
    record_fetch_timings(session, timings)
    assert_clean(session)


def test_the_as_known_on_selector_states_its_basis(
    session: Any, ui_server: UiServer, timings: list[tuple[str, float]]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    visit(session, ui_server.page(), timings)
    wait_for(session, lambda d: d.find_element(By.ID, "at-slider").is_displayed())
    Select(session.find_element(By.ID, "known_at")).select_by_index(1)
    wait_for(session, lambda d: "zoals bekend op" in text_of(d, "#state .basis").lower())
    assert "known_at=" in session.current_url
    assert_clean(session)


def test_a_reflection_leads_to_the_changes_it_caused(
    session: Any, ui_server: UiServer, timings: list[tuple[str, float]]
) -> None:
    from selenium.webdriver.common.by import By

    visit(session, ui_server.page("timeline"), timings)
    session.find_element(By.CSS_SELECTOR, "input[name=kind][value=reflections]").click()
    session.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait_for(session, lambda d: "kind=reflections" in d.current_url)
    record_timing(session, timings)
    entries = session.find_elements(By.CSS_SELECTOR, "ol.timeline > li.event")
    assert len(entries) == 5
    assert all("kind-ReflectionHeld" in str(e.get_attribute("class")) for e in entries)
    screenshot(session, ui_server, "05-timeline-reflections")

    click(session, "a[data-effects=reflectie-leergeschiedenis]")
    wait_for(session, lambda d: REFLECTION in text_of(d, "h1"))
    record_timing(session, timings)
    assert DECISION in text_of(session, "ol.effects")
    screenshot(session, ui_server, "06-reflection-and-its-effects")

    click(session, "ol.effects a[data-effects=besluit-kompas]")
    wait_for(session, lambda d: DECISION in text_of(d, "h1"))
    record_timing(session, timings)
    effects = text_of(session, "ol.effects")
    assert "Missie herzien" in effects and "Fase “verankering” gestart" in effects
    assert REFLECTION not in effects
    assert REFLECTION in text_of(session, ".cause-item .cause")  # and back to its cause
    assert session.find_elements(
        By.CSS_SELECTOR, ".cause-item a[data-cause=reflectie-leergeschiedenis]"
    )
    screenshot(session, ui_server, "07-decision-and-its-effects")
    assert_clean(session)


def test_the_pages_speak_dutch_by_accept_language_and_switch_to_english(
    session: Any, ui_server: UiServer, timings: list[tuple[str, float]]
) -> None:
    from selenium.webdriver.common.by import By

    visit(session, ui_server.page("timeline"), timings)
    assert session.find_element(By.TAG_NAME, "html").get_attribute("lang") == "nl"
    assert "Tijdlijn" in text_of(session, "h1")
    session.find_element(By.CSS_SELECTOR, ".lang a[data-lang=en]").click()
    wait_for(session, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
    assert text_of(session, "h1") == "Timeline"
    assert "later ingevoerd" not in text_of(session, "main")
    assert "entered later" in text_of(session, "main")  # backdated entries are marked
    screenshot(session, ui_server, "08-timeline-in-english")

    visit(session, ui_server.page(), timings)  # the choice is remembered
    assert text_of(session, "h1") == "Overview"
    session.find_element(By.CSS_SELECTOR, ".lang a[data-lang=nl]").click()
    wait_for(session, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "nl")
    assert_clean(session)


def test_charts_are_drawn_on_the_server_as_svg(
    session: Any, ui_server: UiServer, timings: list[tuple[str, float]]
) -> None:
    from selenium.webdriver.common.by import By

    visit(session, ui_server.page("charts"), timings)
    for chart in ("roles-chart", "partners-chart", "agreements-chart"):
        bars = session.find_elements(By.CSS_SELECTOR, f"#{chart} svg g.bar rect")
        assert bars, chart
    assert session.find_elements(By.CSS_SELECTOR, "#agreements-chart g.mark-amended")
    assert session.find_elements(By.CSS_SELECTOR, "#partners-chart rect.band")
    screenshot(session, ui_server, "09-charts")
    assert_clean(session)


def test_the_diff_shows_two_moments_side_by_side(
    session: Any, ui_server: UiServer, timings: list[tuple[str, float]]
) -> None:
    from selenium.webdriver.common.by import By

    visit(session, ui_server.page("diff"), timings)
    first = session.find_element(By.ID, "from").get_attribute("value")
    assert first and session.find_element(By.ID, "to").get_attribute("value")
    assert session.find_elements(By.CSS_SELECTOR, "table.diff tr.change-added")
    headers = [h.text for h in session.find_elements(By.CSS_SELECTOR, "table.diff thead th")]
    assert any(h.startswith("Ervoor") for h in headers) and any(
        h.startswith("Erna") for h in headers
    )
    screenshot(session, ui_server, "10-diff")
    assert_clean(session)


def test_the_register_filters_like_the_api_and_downloads_csv(
    session: Any, ui_server: UiServer, timings: list[tuple[str, float]]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    visit(session, f"{ui_server.url}/ui/register", timings)
    Select(session.find_element(By.ID, "f-formality")).select_by_value("contract")
    session.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait_for(session, lambda d: "formality=contract" in d.current_url)
    record_timing(session, timings)
    rows = session.find_elements(By.CSS_SELECTOR, "#register tbody tr")
    titles = [r.find_element(By.TAG_NAME, "th").text.rsplit(" v", 1)[0] for r in rows]
    assert titles == ["Samenwerkingsovereenkomst Leerecosysteem Kanaalzone",
                      "Subsidieovereenkomst Lerende netwerken"]  # fmt: skip
    screenshot(session, ui_server, "11-register")

    csv_url = session.find_element(By.ID, "csv-link").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in session.get_cookies()}
    response = requests.get(csv_url, cookies=cookies, timeout=10)
    assert response.headers["Content-Type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("collaboration_id,agreement_id,title")
    assert len(lines) == 3 and all(",contract," in line for line in lines[1:])
    assert_clean(session)
