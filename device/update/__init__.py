"""Updates with local rollback: signed release bundles installed side by side, an atomic switch, a bounded local
health check, and a switch back without any server when it fails (``docs/updates.md``)."""
