"""Edge agent: runs at a border post, decodes trackers and cameras, and publishes to MQTT through a
durable outbox so that nothing is lost while the uplink is down."""
