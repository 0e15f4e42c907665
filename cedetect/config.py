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

from cedetect.models import AlertSeverity, AnomalyKind, Identifier

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
    #: Live anomaly scoring of new fixes (``ingest/anomalies.py``; thresholds: ``CEDETECT_ANOMALY_*``).
    anomaly_scoring: bool = True
    #: Transit corridors (GeoJSON LineStrings with ``width_m`` and optional ``device_ids``) for route deviation.
    corridors_path: Path | None = None
    #: At start-up each device's last ``anomaly_warmup_s`` of fixes are replayed through the scorer (state back,
    #: anything found stored idempotently); devices whose last fix is older than ``anomaly_warmup_horizon_s``
    #: are not replayed.
    anomaly_warmup_s: float = Field(default=6 * 3600.0, ge=0)
    anomaly_warmup_horizon_s: float = Field(default=2 * 24 * 3600.0, ge=0)
    #: Declared routes (``declarations.route``, or ``corridor_id`` naming a corridor of ``corridors_path``) become
    #: the corridor of the declaration's ``tracker_device_id``; re-read this often (0: never read).
    anomaly_declarations_refresh_s: float = Field(default=60.0, ge=0)
    #: Anomaly kinds that raise an alert, and at which severity (one level higher at a score of
    #: ``anomaly_alert_escalate_score`` or more); kinds left out are stored without an alert.  Direct entries
    #: into restricted zones are alerted by the restricted-zone rule; ``geofence_enter`` here alerts the
    #: restricted zones crossed between two sparse fixes, which that rule cannot see.
    anomaly_alert_severity: dict[AnomalyKind, AlertSeverity] = Field(
        default_factory=lambda: {
            AnomalyKind.ROUTE_DEVIATION: AlertSeverity.HIGH,
            AnomalyKind.UNSCHEDULED_STOP: AlertSeverity.MEDIUM,
            AnomalyKind.LOITERING: AlertSeverity.MEDIUM,
            AnomalyKind.GPS_JUMP: AlertSeverity.MEDIUM,
            AnomalyKind.GAP: AlertSeverity.MEDIUM,
            AnomalyKind.RENDEZVOUS: AlertSeverity.HIGH,
            AnomalyKind.GEOFENCE_ENTER: AlertSeverity.HIGH,
        }
    )
    anomaly_alert_min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    anomaly_alert_escalate_score: float = Field(default=0.9, ge=0.0, le=1.0)


class AnomalySettings(BaseSettings):
    """Thresholds of the trajectory anomaly detectors (``tracking/``), defaults for road transit trucks."""

    model_config = _section("CEDETECT_ANOMALY_")

    moving_speed_kmh: float = Field(default=5.0, gt=0)
    # GPS jump / spoofing
    max_speed_kmh: float = Field(default=160.0, gt=0)
    jump_min_m: float = Field(default=500.0, ge=0)
    teleport_m: float = Field(default=20_000.0, gt=0)
    max_accel_ms2: float = Field(default=12.0, gt=0)
    accel_min_dt_s: float = Field(default=10.0, ge=0)
    frozen_min_fixes: int = Field(default=3, ge=2)
    # gap / going dark
    gap_min_s: float = Field(default=1800.0, gt=0)
    gap_far_m: float = Field(default=20_000.0, gt=0)
    gap_far_min_s: float = Field(default=600.0, gt=0)
    border_context_m: float = Field(default=20_000.0, ge=0)
    # unscheduled stop (MovingPandas stop definition) and loitering
    stop_max_diameter_m: float = Field(default=150.0, gt=0)
    stop_min_duration_s: float = Field(default=2700.0, gt=0)
    loiter_max_diameter_m: float = Field(default=1500.0, gt=0)
    loiter_min_duration_s: float = Field(default=5400.0, gt=0)
    loiter_min_mean_speed_kmh: float = Field(default=1.0, ge=0)
    # route deviation
    corridor_width_m: float = Field(default=1000.0, gt=0)
    deviation_tolerance_m: float = Field(default=250.0, ge=0)
    deviation_min_duration_s: float = Field(default=300.0, ge=0)
    # rendezvous
    rendezvous_distance_m: float = Field(default=100.0, gt=0)
    rendezvous_min_duration_s: float = Field(default=1800.0, gt=0)
    rendezvous_bucket_s: float = Field(default=60.0, gt=0)
    rendezvous_max_gap_s: float = Field(default=300.0, ge=0)
    rendezvous_max_speed_kmh: float = Field(default=10.0, gt=0)
    # zone kinds
    approved_zone_kinds: list[str] = Field(
        default_factory=lambda: ["approved_stop", "border_post", "customs_area", "rest_area"]
    )
    border_zone_kinds: list[str] = Field(default_factory=lambda: ["border_post"])


class ServerSettings(BaseSettings):
    model_config = _section("CEDETECT_SERVER_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None


class VisionSettings(BaseSettings):
    """Plate and container-code reading (``vision``): detector backend chosen by ``type``."""

    model_config = _section("CEDETECT_VISION_")

    #: Detector backend plugin; ``onnxruntime`` uses the CUDA or OpenVINO provider when present.
    type: Literal["onnxruntime"] = "onnxruntime"
    #: ONNX Runtime execution providers in order of preference (JSON list; empty: CUDA, OpenVINO, CPU).
    providers: list[str] = Field(default_factory=list)
    #: Detector ONNX file (default: the shipped one, ``vision/models/detector.onnx`` or its int8 copy).
    model_path: Path | None = None
    #: Shipped detector weights: ``int8`` (quantised; about twice as fast on a CPU, its boxes within a pixel or
    #: two of the float ones) or ``fp32``.  With the project recogniser reading first, both read the same share
    #: of the eval plates (vision/README.md).
    precision: Literal["fp32", "int8"] = "int8"
    #: The frame's longer side at the detector, for a model with a free input size (the shipped one, trained
    #: at 416); a model with a fixed input uses its own size.
    input_size: int = Field(default=416, ge=64, le=2048, multiple_of=32)
    score_threshold: float = Field(default=0.25, gt=0.0, lt=1.0)
    #: Container-code boxes are kept from this score (a read must still pass the ISO 6346 check digit; every
    #: box read costs a text detection, so a low threshold slows down frames without containers).
    container_score_threshold: float = Field(default=0.25, gt=0.0, lt=1.0)
    iou_threshold: float = Field(default=0.45, gt=0.0, lt=1.0)
    max_detections: int = Field(default=20, ge=1, le=300)
    threads: int = Field(default=0, ge=0, le=256)  # 0: ONNX Runtime decides
    max_file_bytes: int = Field(default=50_000_000, ge=1)
    max_side_px: int = Field(default=12_000, ge=64)
    max_pixels: int = Field(default=60_000_000, ge=4096)
    #: Plate grammars tried in order (JSON list; see ``vision.grammars``): TR first, then European, Brazilian...
    plate_grammars: list[str] = Field(default_factory=lambda: ["TR", "EU", "BR", "AR"])
    #: What reads a plate's or a code line's text: ``project``, the project's small recogniser
    #: (``vision/models/recogniser.onnx``, about 1 ms a line) first, and rapidocr's model (about 24 ms a line)
    #: only where its read is unsure; or ``rapidocr``, rapidocr's model alone.
    recogniser: Literal["project", "rapidocr"] = "project"
    #: The project recogniser's plate read is kept without rapidocr's when it fits a fixed-layout plate format
    #: and its least sure character has at least this probability; a container code's when its check digit
    #: is right as read.
    line_min_prob: float = Field(default=0.9, ge=0.0, le=1.0)
    #: When the detector's boxes yield no valid read at all, read the whole frame with the text detector and
    #: keep only strict matches (a fixed-layout plate format, a right ISO 6346 check digit).
    full_frame_fallback: bool = True
    #: The fallback's text detector sees the frame scaled to at most this many pixels on its longer side
    #: (cost grows with the area; 0: rapidocr's default, the short side scaled to 736 px).
    full_frame_max_side_px: int = Field(default=640, ge=0, le=4096)


class CameraSettings(BaseSettings):
    """Camera input of the edge agent (``edge.camera``): frames -> reads -> one Detection per passage."""

    model_config = _section("CEDETECT_CAMERA_")

    enabled: bool = False
    #: Take JPEG frames that cameras (or the simulator) publish on ``cedetect/v1/{site}/{camera_id}/frame``.
    mqtt_frames: bool = True
    #: Image files, folders, video files or ``rtsp://`` URLs (JSON list), read as camera ``camera_id``.
    sources: list[str] = Field(default_factory=list)
    camera_id: Identifier = "cam-1"
    #: Read every Nth frame of a video or stream; ``max_fps`` > 0 also caps the frames read per second.
    sample_every: int = Field(default=1, ge=1, le=10_000)
    max_fps: float = Field(default=0.0, ge=0.0)
    #: Frames waiting for the reader; beyond this, live frames are dropped (and counted).
    queue_size: int = Field(default=8, ge=1, le=10_000)
    #: Reader worker threads, each with its own reader (0: one per CPU core).  With more than one, each reader's
    #: ONNX Runtime gets ``cores // readers`` intra-op threads (when ``CEDETECT_VISION_THREADS`` is 0).
    readers: int = Field(default=0, ge=0, le=64)
    max_frame_bytes: int = Field(default=20_000_000, ge=1)
    #: A passage closes when its text has not been seen for ``passage_quiet_s`` (or after ``passage_max_s``).
    passage_quiet_s: float = Field(default=2.0, gt=0)
    passage_max_s: float = Field(default=60.0, gt=0)
    #: Reads below this confidence are not published.
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    evidence_dir: Path = Path("var/edge/evidence")
    #: Send the crop's JPEG bytes along with each Detection (``crop_jpeg_b64``) so the server keeps them.
    send_crops: bool = True


class RiskSettings(BaseSettings):
    """Declaration risk (``risk``): the model version and profiles a scorer uses, and the random rate."""

    model_config = _section("CEDETECT_RISK_")

    #: Model version directory (default: the shipped ``risk/models/default``).
    model_dir: Path | None = None
    #: Profiles YAML/JSON used when the database has none (default: ``risk/profiles/starter.yaml``).
    profiles_path: Path | None = None
    #: Share of declarations sent to the red lane at random, whatever their risk (ASYCUDA's random rate).
    random_rate: float = Field(default=0.01, ge=0.0, le=1.0)
    #: Model contributions listed among a result's reasons.
    top_reasons: int = Field(default=3, ge=0, le=20)


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
