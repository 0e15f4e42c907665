from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from cedetect.config import (
    AppSettings,
    DatabaseSettings,
    EdgeSettings,
    MqttSettings,
    ServerSettings,
    UnsafeSettingsError,
    check_production,
)


def test_sections_read_their_own_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEDETECT_MQTT_PORT", "18884")
    monkeypatch.setenv("CEDETECT_EDGE_SITE", "habur")
    monkeypatch.setenv("CEDETECT_DATABASE_URL", "postgresql://u:s3cret-Long@db.example:5432/cedetect")
    assert MqttSettings().port == 18884
    assert EdgeSettings().site == "habur"
    assert DatabaseSettings().url.get_secret_value().endswith("/cedetect")
    assert "s3cret" not in repr(DatabaseSettings())


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEDETECT_MQTT_PORT", "70000")
    with pytest.raises(ValidationError):
        MqttSettings()
    with pytest.raises(ValidationError):
        EdgeSettings(site="bad/site")


def test_development_mode_accepts_the_defaults() -> None:
    check_production(AppSettings(mode="development"), mqtt=MqttSettings(), database=DatabaseSettings())


def test_production_refuses_every_unsafe_default() -> None:
    with pytest.raises(UnsafeSettingsError) as caught:
        check_production(
            AppSettings(mode="production"),
            mqtt=MqttSettings(host="broker.example"),
            database=DatabaseSettings(),
            server=ServerSettings(host="0.0.0.0"),
        )
    assert caught.value.problems == [
        "database password is empty or a default one",
        "MQTT has no username/password",
        "MQTT to a non-loopback broker without TLS",
        "server binds all interfaces without TLS",
    ]


def test_production_accepts_safe_settings() -> None:
    check_production(
        AppSettings(mode="production"),
        mqtt=MqttSettings(host="broker.example", username="edge", password=SecretStr("x9!long-secret"), tls=True),
        database=DatabaseSettings(url=SecretStr("postgresql://cedetect:x9!long-secret@db:5432/cedetect")),
        server=ServerSettings(host="0.0.0.0", tls_certfile="cert.pem", tls_keyfile="key.pem"),
    )


def test_production_refuses_a_default_mqtt_password() -> None:
    with pytest.raises(UnsafeSettingsError, match="MQTT password is a default one"):
        check_production(
            AppSettings(mode="production"), mqtt=MqttSettings(username="edge", password=SecretStr("changeme"))
        )
