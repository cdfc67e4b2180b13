"""Fixtures for a real postgres started by the tests (see the module body)."""
