"""A paho-mqtt client configured from :class:`~cedetect.config.MqttSettings`, shared by every service.

MQTT v3.1.1 (both Mosquitto and amqtt speak it).  Reconnection is paho's own, with backoff.
"""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cedetect.config import MqttSettings


def make_client(
    settings: MqttSettings,
    client_id: str,
    *,
    clean_session: bool = True,
    manual_ack: bool = False,
    will: tuple[str, bytes] | None = None,
) -> mqtt.Client:
    """Build (not connect) a client.  ``will`` is a (topic, payload) Last Will, published retained at QoS 1."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client
