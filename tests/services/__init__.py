"""Real services for integration tests, each on its own free port and data directory, stopped afterwards."""
