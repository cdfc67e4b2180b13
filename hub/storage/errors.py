"""The storage layer's own exceptions: callers translate them to refusal counters, HTTP errors or exit codes."""

from __future__ import annotations


class StorageError(Exception):
    """Something the hub's database refused or could not do."""


class StorageUnavailableError(StorageError):
    """The database could not be reached or stayed locked past the timeout: try again later, nothing was stored."""


class UnknownDeviceError(StorageError):
    """No device with this id was ever enrolled or requested."""


class DeviceStateError(StorageError):
    """The operation does not apply to the device in its current status (e.g. approving a decommissioned one)."""


class DeviceConflictError(StorageError):
    """A device with this id exists with another key: a new key needs a new enrolment."""


class ListConflictError(StorageError):
    """The district sent two different documents for one (kind, list, seq)."""


class InvalidValueError(StorageError, ValueError):
    """A value the schema cannot hold or the hub does not accept: a sequence number above 2**63-1, a text longer
    than its column, a key that is not Ed25519, a malformed id."""
