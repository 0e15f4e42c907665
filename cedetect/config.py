"""Settings: one strict pydantic-settings model per section, read from the environment.

Each section has its own prefix (``CEDETECT_MQTT_HOST``, ``CEDETECT_DATABASE_URL``, ...).  Secrets
(passwords, the database URL) come from the environment only.  Development defaults point at
loopback services; :func:`check_production` refuses them when ``CEDETECT_MODE=production``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cedetect.models import Identifier

#: Passwords that ship in examples and defaults; production refuses them.
DEFAULT_PASSWORDS = frozenset({"", "cedetect", "postgres", "password", "admin", "changeme", "secret"})


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="forbid", frozen=True)


class MqttSettings(BaseSettings):
    model_config = _section("CEDETECT_MQTT_")

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)


class DatabaseSettings(BaseSettings):
    model_config = _section("CEDETECT_DATABASE_")

    url: SecretStr = SecretStr("postgresql://cedetect:cedetect@127.0.0.1:5432/cedetect")
    connect_timeout_s: float = Field(default=60.0, gt=0)
    partition_months_ahead: int = Field(default=3, ge=1, le=24)


class EdgeSettings(BaseSettings):
    model_config = _section("CEDETECT_EDGE_")

    site: Identifier = "border-post-1"
    agent_id: Identifier = "edge-1"
    bind_host: str = "127.0.0.1"
    #: Tracker protocols to listen for (JSON list), each on every transport it has (TCP, UDP, HTTP).
    protocols: list[str] = Field(default_factory=lambda: ["gt06"])
    #: Port per protocol (JSON object), overriding the protocol's default port; 0 takes a free port.
    ports: dict[str, Annotated[int, Field(ge=0, le=65535)]] = Field(default_factory=dict)
    #: Take JSON fixes that devices publish on ``cedetect/v1/{site}/{device_id}/fix``.
    mqtt_fixes: bool = True
    outbox_path: Path = Path("var/edge/outbox.sqlite3")
    max_inflight: int = Field(default=200, ge=1, le=65535)
    idle_timeout_s: float = Field(default=600.0, gt=0)
    future_tolerance_s: float = Field(default=300.0, ge=0)
    filter_max_speed_kmh: float = Field(default=180.0, gt=0)
    filter_max_implied_speed_kmh: float = Field(default=250.0, gt=0)
    filter_min_jump_m: float = Field(default=1000.0, ge=0)
    filter_min_period_s: float = Field(default=1.0, ge=0)
    filter_stale_after_s: float = Field(default=7 * 24 * 3600.0, gt=0)


class IngestSettings(BaseSettings):
    model_config = _section("CEDETECT_INGEST_")

    client_id: Identifier = "ingest-1"
    #: Site whose messages this instance takes (``+``: every site).
    site: Annotated[str, Field(pattern=r"^(\+|[A-Za-z0-9][A-Za-z0-9._:-]{0,63})$")] = "+"
    batch_max: int = Field(default=1000, ge=1, le=100_000)
    batch_max_wait_ms: int = Field(default=200, ge=1, le=60_000)
    zones_path: Path | None = None


class ServerSettings(BaseSettings):
    model_config = _section("CEDETECT_SERVER_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None


class AppSettings(BaseSettings):
    model_config = _section("CEDETECT_")

    mode: Literal["development", "production"] = "development"


class UnsafeSettingsError(ValueError):
    """Production mode found a setting that must not reach a real deployment."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("unsafe settings for production: " + "; ".join(problems))
        self.problems = problems


def _binds_all_interfaces(host: str) -> bool:
    if host in ("", "*"):
        return True
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def check_production(
    app: AppSettings,
    *,
    mqtt: MqttSettings | None = None,
    database: DatabaseSettings | None = None,
    server: ServerSettings | None = None,
) -> None:
    """Raise :class:`UnsafeSettingsError` listing every unsafe default, when in production mode."""
    if app.mode != "production":
        return
    problems: list[str] = []
    if database is not None:
        url = urlsplit(database.url.get_secret_value())
        if (url.password or "") in DEFAULT_PASSWORDS:
            problems.append("database password is empty or a default one")
    if mqtt is not None:
        if not mqtt.username or mqtt.password is None:
            problems.append("MQTT has no username/password")
        elif mqtt.password.get_secret_value() in DEFAULT_PASSWORDS:
            problems.append("MQTT password is a default one")
        if not mqtt.tls and not _is_loopback(mqtt.host):
            problems.append("MQTT to a non-loopback broker without TLS")
    if server is not None and _binds_all_interfaces(server.host) and server.tls_certfile is None:
        problems.append("server binds all interfaces without TLS")
    if problems:
        raise UnsafeSettingsError(problems)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
