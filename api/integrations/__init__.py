"""Outbound integrations: the delivery outbox, webhooks and MQTT."""
