"""The hub's MQTT side: the link (the one module that owns paho on the hub) and what it publishes."""
