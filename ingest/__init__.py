"""Ingest: MQTT -> PostgreSQL in batches, idempotent, acknowledging each message only after its batch commits."""
