"""Release bundles for terminals: the wheels, a manifest, and the release key's signature (``docs/updates.md``)."""
