"""What stops an update; every message says what happened to the running version."""

from __future__ import annotations


class UpdateError(Exception):
    """The update did not happen; the running version is unchanged."""


class BundleError(UpdateError):
    """The bundle is not a valid, correctly signed release bundle (nothing was installed)."""


class RolledBackError(UpdateError):
    """The new version was switched to, failed its health check, and the previous one runs again."""

    def __init__(self, message: str, reasons: dict[str, str]) -> None:
        super().__init__(message)
        self.reasons = reasons
