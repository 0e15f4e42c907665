"""The command-centre page in a real headless Chromium: trucks appear from polling, alerts arrive live."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from cedetect.models import AlertSeverity, utc_now
from tests.server.conftest import LiveServer
from tests.server.factories import insert_position, make_alert, store_alert
from tests.support import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.browser]


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CEDETECT_TEST_CHROMIUM") or "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,900",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with tempfile.TemporaryDirectory(prefix="cedetect-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        service = Service(executable_path=os.environ.get("CEDETECT_TEST_CHROMEDRIVER") or "/usr/bin/chromedriver")
        driver = webdriver.Chrome(service=service, options=options)
        try:
            yield driver
        finally:
            driver.quit()


def _present(driver: Any, selector: str) -> list[Any]:
    elements: list[Any] = driver.find_elements(By.CSS_SELECTOR, selector)
    return elements


def test_trucks_and_live_alerts_show_on_the_page(
    live: LiveServer, db: psycopg.Connection, database_url: str, browser: Any, tmp_path: Path
) -> None:
    browser.get(live.base_url + "/")
    wait_for(lambda: _present(browser, "svg#map path.country.home"), timeout_s=30)  # borders drawn
    assert len(_present(browser, "svg#map .crossing")) >= 10
    assert _present(browser, "svg#map path.zone.restricted")
    wait_for(lambda: _present(browser, '#ws-status[data-state="open"]'), timeout_s=30)

    now = utc_now()
    routes = {"TRK-34-001": ((41.70, 26.45), (41.68, 26.55)), "TRK-73-017": ((37.20, 42.45), (37.13, 42.37))}
    for device_id, ((lat0, lon0), (lat1, lon1)) in routes.items():
        for i in range(5):
            f = i / 4
            insert_position(
                db, device_id, now - timedelta(seconds=60 - 15 * i), lat0 + (lat1 - lat0) * f, lon0 + (lon1 - lon0) * f
            )

    trucks: list[Any] = wait_for(
        lambda: (found := _present(browser, "svg#map .truck")) and len(found) == 2 and found, 30
    )
    assert {t.get_attribute("data-device-id") for t in trucks} == set(routes)
    assert _present(browser, 'svg#map .truck[data-device-id="TRK-34-001"]')
    rows = _present(browser, "#truck-list tr")
    assert [r.get_attribute("data-device-id") for r in rows] == sorted(routes)
    assert "50 km/h" in rows[0].text

    alert = store_alert(
        database_url,
        make_alert(
            device_ids=("TRK-73-017",),
            severity=AlertSeverity.CRITICAL,
            latitude=37.13,
            longitude=42.37,
            zone_id="restricted-habur",
            title="Truck entered a restricted zone near Habur",
        ),
    )
    selector = f'#alert-list li.alert[data-alert-id="{alert.alert_id}"]'
    (item,) = wait_for(lambda: _present(browser, selector), timeout_s=30)  # live: no reload
    assert "Truck entered a restricted zone near Habur" in item.text
    assert "TRK-73-017" in item.text
    assert "critical" in item.text.lower()
    assert "restricted-habur" in item.text
    wait_for(lambda: _present(browser, "svg#map .flash"), timeout_s=10)
    wait_for(lambda: _present(browser, 'svg#map .truck.alerted[data-device-id="TRK-73-017"]'), timeout_s=10)

    # No script errors and no Content-Security-Policy refusals along the way.
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

    screenshot = tmp_path / "command-centre.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")
