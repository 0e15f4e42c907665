"""One hand-built transit declaration for the fusion, storage and server tests: a real row's 22 columns with
the transit fields a border post needs (plates, container, tracker, expected post and window)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from cedetect.declarations import Declaration

T0 = datetime(2021, 3, 2, 8, 0, tzinfo=UTC)

CORE: dict[str, Any] = {
    "declaration_id": "97061800",
    "date": date(2021, 3, 1),
    "office_id": "30",
    "process_type": "B",
    "import_type": "11",
    "import_use": "21",
    "payment_type": "11",
    "mode_of_transport": "10",
    "declarant_id": "ZZR1LT6",
    "importer_id": "QLRUBN9",
    "seller_id": "0VKY2BR",
    "hs6_code": "440890",
    "country_of_departure": "BG",
    "country_of_origin": "BG",
    "tax_rate_pct": 8.0,
    "tax_type": "FCN1",
    "country_of_origin_indicator": "G",
    "net_mass_kg": 21000.0,
    "item_price_krw": 196_000_000.0,
}

TRANSIT: dict[str, Any] = {
    "vehicle_plate": "34 ABC 123",
    "trailer_plate": "34 TR 9876",
    "container_codes": ("MSKU1234565",),
    "tracker_device_id": "TRK-7",
    "expected_post": "border-post-kapikule",
    "expected_from_utc": T0,
    "expected_until_utc": T0 + timedelta(hours=6),
}


def declaration(**change: Any) -> Declaration:
    """The declaration, with ``change`` applied to its fields."""
    return Declaration.model_validate({**CORE, **TRANSIT, **change})
