"""Fixtures for a real mosquitto started by the tests (see the module body)."""
