"""The hub's enrolment API, as the flashing tool speaks it: ``POST /api/v1/devices`` with a bearer token.

Request JSON ``{id, public_key_pem, profile, site, grid_cell, broker_password}``; ``201`` enrolled, ``200`` the same id
with the same key was already there (a rerun), ``409`` the id holds another key; errors come as problem JSON
(RFC 9457 ``title``/``detail``). TLS is verified against the hub's own CA file when one is given (pinning: the
system's CAs are then not trusted for the hub). Every failure becomes :class:`HubError` with a plain message;
:class:`HubUnreachableError` means "queue it and try later".
"""

from __future__ import annotations

import json
import ssl
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from hardware.flash.errors import HubConflictError, HubError, HubUnreachableError

DEVICES_PATH = "/api/v1/devices"
TIMEOUT_S = 10.0
"""Connect and read timeout of one request."""
MAX_FIELD_CHARS = 4096
"""Longest field of a queued request (a PEM public key is about 113 characters)."""
MAX_DETAIL_CHARS = 300
"""How much of the hub's problem text a message repeats."""


@dataclass(frozen=True, slots=True)
class EnrolRequest:
    """What the hub is told about a new device."""

    id: str
    public_key_pem: str
    profile: str
    site: str
    grid_cell: str
    broker_password: str

    def to_json(self) -> dict[str, str]:
        """The queued form (every field a text)."""
        return asdict(self)

    def body(self) -> dict[str, str | None]:
        """The request body: an empty grid cell is sent as null (the hub takes a place as 1-64 characters)."""
        document: dict[str, str | None] = dict(self.to_json())
        if not self.grid_cell:
            document["grid_cell"] = None
        return document

    @classmethod
    def from_json(cls, document: Any) -> EnrolRequest:  # noqa: ANN401 - parsed JSON
        """Back from a queued file; ValueError when it is not one."""
        fields = ("id", "public_key_pem", "profile", "site", "grid_cell", "broker_password")
        if not isinstance(document, dict) or set(document) != set(fields):
            raise ValueError("not an enrolment request")
        if not all(isinstance(document[name], str) and len(document[name]) <= MAX_FIELD_CHARS for name in fields):
            raise ValueError("an enrolment request field is not a short text")
        return cls(**{name: document[name] for name in fields})


def _problem(response: httpx.Response) -> str:
    try:
        document = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:MAX_DETAIL_CHARS] or response.reason_phrase
    if isinstance(document, dict):
        parts = [str(document[key]) for key in ("title", "detail") if isinstance(document.get(key), str)]
        if parts:
            return ": ".join(parts)[:MAX_DETAIL_CHARS]
    return response.reason_phrase


class HubApi:
    """A client of one hub; use as a context manager."""

    def __init__(self, url: str, token: str, *, ca_file: Path | None = None, timeout_s: float = TIMEOUT_S) -> None:
        if not url.startswith(("https://", "http://")):
            raise HubError(f"the hub address {url!r} must start with https:// (or http:// on loopback)")
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            try:
                verify = ssl.create_default_context(cafile=str(ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise HubError(f"cannot use the hub CA file {ca_file}: {exc}") from exc
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url, verify=verify, timeout=timeout_s, headers={"Authorization": f"Bearer {token}"}
        )

    def __enter__(self) -> HubApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def enrol(self, request: EnrolRequest) -> bool:
        """Pre-authorise the device; True when the hub created it, False when it already had it (same key)."""
        try:
            response = self._client.post(DEVICES_PATH, json=request.body())
        except httpx.TransportError as exc:
            # TLS failures are transport errors too, but queueing would not cure them.
            cause = exc.__context__ or exc.__cause__
            if isinstance(cause, ssl.SSLError) or "CERTIFICATE" in str(exc).upper():
                raise HubError(
                    f"the hub at {self.url} did not prove itself with the given CA ({exc}): check --ca and the address"
                ) from exc
            raise HubUnreachableError(f"the hub at {self.url} cannot be reached ({exc})") from exc
        if response.status_code == httpx.codes.CREATED:
            return True
        if response.status_code == httpx.codes.OK:
            return False
        detail = _problem(response)
        if response.status_code == httpx.codes.CONFLICT:
            raise HubConflictError(f"the hub already has device {request.id} with another key ({detail})")
        if response.status_code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            raise HubError(f"the hub refused the token ({detail}): ask the hub operator for an enrolment token")
        if response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise HubUnreachableError(f"the hub answered {response.status_code} ({detail}); it will be tried again")
        raise HubError(f"the hub refused the enrolment of {request.id}: {response.status_code} {detail}")
