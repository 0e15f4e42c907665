"""The command-centre page in a real headless Chromium: trucks appear from polling, alerts arrive live."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
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


def _crop_jpeg(shared_data: Path) -> tuple[str, bytes]:
    """The plate crop of a real photo from the shared data, as the edge stores it (JPEG, content-addressed)."""
    import io
    import json

    from PIL import Image

    labels = json.loads((shared_data / "plates" / "labels.json").read_text())
    record = next(r for r in labels if r["file"] == "images/fast_alpr/test_image.png")
    with Image.open(shared_data / "plates" / record["file"]) as image:
        crop = image.convert("RGB").crop(tuple(record["box_xyxy"]))
    out = io.BytesIO()
    crop.save(out, format="JPEG", quality=90)
    return record["plate_text"], out.getvalue()


def _jpeg_width(data: bytes) -> int:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return int(image.width)


def test_an_analyst_opens_a_fused_alert_sees_its_evidence_and_records_the_outcome(
    live: LiveServer, db: psycopg.Connection, database_url: str, browser: Any, shared_data: Path, tmp_path: Path
) -> None:
    import hashlib
    import uuid

    from psycopg.types.json import Jsonb

    from cedetect.declarations import read_declarations_csv
    from cedetect.models import anomaly_id_for, detection_id_for
    from risk.store import score_values, store_scores, upsert_declaration

    browser.get(live.base_url + "/")
    wait_for(lambda: _present(browser, '#ws-status[data-state="open"]'), timeout_s=30)

    # The road evidence: a plate read at Habur with its real crop, and an unscheduled stop with its fixes.
    now = utc_now()
    plate, crop = _crop_jpeg(shared_data)
    sha = hashlib.sha256(crop).hexdigest()
    db.execute("INSERT INTO evidence_blobs (sha256, media_type, data) VALUES (%s, 'image/jpeg', %s)", (sha, crop))
    detection_id = detection_id_for("gate-1", "plate", plate, now - timedelta(minutes=5))
    db.execute(
        "INSERT INTO detections (detection_id, camera_id, site, kind, time_utc, text, raw_text, confidence, box_xyxy,"
        " valid, crop_sha256) VALUES (%s, 'gate-1', 'border-post-habur', 'plate', %s, %s, %s, 0.94, %s, true, %s)",
        (detection_id, now - timedelta(minutes=5), plate, plate, [303, 186, 398, 210], sha),
    )
    device = "350001000000004"
    stop_at = now - timedelta(minutes=40)
    fixes = [
        {"device_id": device, "time_utc": (stop_at + timedelta(minutes=10 * i)).isoformat(),
         "latitude": 37.20 + 0.0004 * i, "longitude": 42.45 - 0.0003 * i, "speed_kmh": 0.0}
        for i in range(4)
    ]  # fmt: skip
    anomaly_id = anomaly_id_for("unscheduled_stop", (device,), stop_at)
    db.execute(
        "INSERT INTO anomalies (anomaly_id, kind, device_ids, start_utc, end_utc, latitude, longitude, score, reason,"
        " zone_id, evidence, details) VALUES (%s, 'unscheduled_stop', %s, %s, %s, 37.2006, 42.4495, 0.9, %s, NULL,"
        " %s, %s)",
        (anomaly_id, [device], stop_at, stop_at + timedelta(minutes=30), "stopped 30 min outside approved zones",
         Jsonb(fixes), Jsonb({})),
    )  # fmt: skip
    # A real declaration of the shared validation file, given this truck's tracker, plate and expected post.
    declarations, _ = read_declarations_csv(shared_data / "customs" / "df_syn_valid_eng.csv")
    decl = next(d for d in declarations if d.critical_fraud).model_copy(
        update={
            "vehicle_plate": plate,
            "tracker_device_id": device,
            "expected_post": "border-post-habur",
            "expected_from_utc": now - timedelta(hours=2),
            "expected_until_utc": now + timedelta(hours=6),
        }
    )
    with db.transaction():  # the fusion worker sees the declaration with its score
        upsert_declaration(db, decl)
        store_scores(db, [score_values(decl.declaration_id, "test-model", 0.62, "red", ["profile:test[a+b]"], now)])

    # The server's fusion worker raises the alert; it arrives live.
    selector = "#alert-list li.alert[data-alert-id]"
    (item,) = wait_for(lambda: _present(browser, selector), timeout_s=60)
    alert_id = uuid.UUID(item.get_attribute("data-alert-id"))
    assert "declaration_risk" in item.text
    item.click()

    # Assess: the evidence chain.
    panel = wait_for(lambda: (p := _present(browser, f'#alert-detail[data-alert-id="{alert_id}"]')) and p[0], 10)
    wait_for(lambda: _present(browser, '#detail-status[data-status="assessing"]'), timeout_s=10)  # opening assesses
    assert decl.declaration_id in panel.find_element(By.ID, "detail-declaration-id").text
    assert "lane red" in panel.find_element(By.ID, "detail-risk").text
    reasons = panel.find_element(By.ID, "detail-reasons").text
    assert "declaration_risk" in reasons
    assert "unscheduled_stop" in reasons
    (read,) = panel.find_elements(By.CSS_SELECTOR, "#detail-reads li.read")
    assert plate in read.text
    assert "exact" in read.text
    img = read.find_element(By.CSS_SELECTOR, "img.crop")
    assert img.get_attribute("src").endswith(f"/api/v1/evidence/{sha}")
    wait_for(lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img), 10)
    crop_width = browser.execute_script("return arguments[0].naturalWidth", img)
    assert crop_width == _jpeg_width(crop)  # the crop's own bytes, served by the server
    (anomaly,) = panel.find_elements(By.CSS_SELECTOR, "#detail-anomalies li.anomaly")
    assert "unscheduled_stop" in anomaly.text
    wait_for(lambda: len(_present(browser, "svg#map .evidence-fix")) == len(fixes), timeout_s=10)  # fixes on the map
    assert _present(browser, f'svg#map .evidence-track[data-anomaly-id="{anomaly_id}"] polyline')

    # Decide, respond, record.
    browser.find_element(By.ID, "decide-inspect").click()
    wait_for(lambda: _present(browser, '#detail-status[data-status="decided"]'), timeout_s=10)
    browser.find_element(By.ID, "respond-dispatched").click()
    wait_for(lambda: _present(browser, '#detail-status[data-status="responding"]'), timeout_s=10)
    browser.find_element(By.CSS_SELECTOR, '#outcome-outcome option[value="seizure"]').click()
    browser.find_element(By.ID, "outcome-officer").send_keys("Insp. Yilmaz")
    browser.find_element(By.ID, "outcome-notes").send_keys("Undeclared cigarettes behind the pallets")
    browser.find_element(By.ID, "outcome-submit").click()
    wait_for(lambda: _present(browser, '#detail-status[data-status="closed"]'), timeout_s=10)
    (recorded,) = wait_for(lambda: _present(browser, "#detail-outcomes li.outcome"), timeout_s=10)
    assert recorded.find_elements(By.CSS_SELECTOR, ".outcome-kind.out-seizure")
    assert "Insp. Yilmaz" in recorded.text
    assert "Outcome recorded" in browser.find_element(By.ID, "workflow-message").text

    # The list marks the alert as handled.
    wait_for(lambda: _present(browser, f'li.alert[data-alert-id="{alert_id}"] .status-chip[data-status="closed"]'), 10)

    # Stored: the outcome (linked to the declaration through the alert) and the alert's status.
    rows = db.execute("SELECT alert_id, declaration_id, outcome, officer, notes FROM outcomes").fetchall()
    assert rows == [
        (alert_id, decl.declaration_id, "seizure", "Insp. Yilmaz", "Undeclared cigarettes behind the pallets")
    ]
    assert db.execute("SELECT status FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone() == ("closed",)

    # Another analyst dismisses another alert: this page marks it within a poll.
    other = store_alert(database_url, make_alert(device_ids=("TRK-9",), title="Truck stopped near Nusaybin"))
    wait_for(lambda: _present(browser, f'li.alert[data-alert-id="{other.alert_id}"]'), timeout_s=30)
    with httpx.Client(base_url=live.base_url, timeout=10) as http:
        assert http.put(f"/api/v1/alerts/{other.alert_id}/status", json={"status": "dismissed"}).status_code == 200
    wait_for(lambda: _present(browser, f'li.alert[data-alert-id="{other.alert_id}"] [data-status="dismissed"]'), 20)

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    screenshot = tmp_path / "alert-detail.png"
    assert browser.save_screenshot(str(screenshot))
    print(f"screenshot: {screenshot}")


def test_an_anomaly_alert_opens_with_its_evidence_fixes_on_the_map(
    live: LiveServer, db: psycopg.Connection, database_url: str, browser: Any
) -> None:
    """Alerts raised by ingest's anomaly scoring carry ``anomaly_id`` in details: the page draws its fixes."""
    from psycopg.types.json import Jsonb

    from cedetect.models import anomaly_id_for

    browser.get(live.base_url + "/")
    wait_for(lambda: _present(browser, '#ws-status[data-state="open"]'), timeout_s=30)
    now = utc_now()
    start = now - timedelta(minutes=20)
    fixes = [
        {"device_id": "TRK-5", "time_utc": (start + timedelta(minutes=4 * i)).isoformat(),
         "latitude": 37.14 + 0.002 * i, "longitude": 42.55 + 0.003 * i, "speed_kmh": 30.0}
        for i in range(6)
    ]  # fmt: skip
    anomaly_id = anomaly_id_for("geofence_enter", ("TRK-5",), start)
    db.execute(
        "INSERT INTO anomalies (anomaly_id, kind, device_ids, start_utc, end_utc, latitude, longitude, score, reason,"
        " zone_id, evidence, details) VALUES (%s, 'geofence_enter', %s, %s, %s, 37.15, 42.565, 1.0,"
        " 'entered restricted zone near Habur', 'restricted-habur', %s, '{}')",
        (anomaly_id, ["TRK-5"], start, now, Jsonb(fixes)),
    )
    alert = make_alert(
        device_ids=("TRK-5",), latitude=37.15, longitude=42.565, zone_id="restricted-habur", title="Entered Habur zone"
    )
    alert = alert.model_copy(update={"details": {"anomaly_id": str(anomaly_id), "score": 1.0, "reason": "entered",
                                                 "evidence": fixes}})  # fmt: skip
    store_alert(database_url, alert)
    (item,) = wait_for(lambda: _present(browser, f'#alert-list li.alert[data-alert-id="{alert.alert_id}"]'), 30)
    item.click()
    wait_for(lambda: len(_present(browser, f'.evidence-track[data-anomaly-id="{anomaly_id}"] .evidence-fix')) == 6, 10)
    (listed,) = _present(browser, "#detail-anomalies li.anomaly")
    assert "geofence_enter" in listed.text
    assert "6 fixes" in listed.text
    assert _present(browser, "#detail-declaration[hidden]")  # no declaration behind this one
    assert _present(browser, "#detail-reads-block[hidden]")
    browser.find_element(By.ID, "detail-close").click()
    wait_for(lambda: not _present(browser, "svg#map .evidence-fix"), timeout_s=10)  # closing clears the map
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
