"""What an operation can refuse; the API maps each class to one HTTP status, the CLI to a message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hub.storage.errors import (
    DeviceConflictError,
    DeviceStateError,
    InvalidValueError,
    StorageError,
    StorageUnavailableError,
    UnknownDeviceError,
)


class OperationError(Exception):
    """An operation refused or failed; ``code`` is a short stable reason for machines."""

    code = "error"


class InvalidInputError(OperationError):
    """The request is malformed or a value is out of bounds."""

    code = "invalid"


class NotFoundError(OperationError):
    """The thing named does not exist."""

    code = "not_found"


class ConflictError(OperationError):
    """The thing exists in a state the operation does not apply to (another key, decommissioned, ...)."""

    code = "conflict"


class ForbiddenError(OperationError):
    """The operator's role does not allow it."""

    code = "forbidden"


class AuthenticationError(OperationError):
    """No valid login, session or token."""

    code = "unauthenticated"


class RateLimitedError(AuthenticationError):
    """Too many wrong logins; try again after ``retry_after_s``."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UnavailableError(OperationError):
    """The database is busy or unreachable: nothing was changed, try again."""

    code = "unavailable"


class BrokerError(OperationError):
    """The hub did its part but the broker did not (down, refused): the operation can be repeated."""

    code = "broker"


@contextmanager
def translated() -> Iterator[None]:
    """Storage errors as operation errors."""
    try:
        yield
    except UnknownDeviceError as exc:
        raise NotFoundError(str(exc)) from exc
    except (DeviceConflictError, DeviceStateError) as exc:
        raise ConflictError(str(exc)) from exc
    except InvalidValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    except StorageUnavailableError as exc:
        raise UnavailableError(str(exc)) from exc
    except StorageError as exc:
        raise OperationError(str(exc)) from exc
