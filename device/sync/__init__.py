"""The terminal's side of sync: the MQTT link (the one module that owns paho here) and the durable outbox."""
