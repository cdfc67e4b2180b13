"""What operations need of the running parts, as small protocols (the real ones: ``HubLink``, ``DynSecAdmin``)."""

from __future__ import annotations

from typing import Protocol


class Publisher(Protocol):
    """Publishes on the broker (the ingest worker's ``HubLink``)."""

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        """QoS 1; False when not connected."""
        ...


class BrokerControl(Protocol):
    """The broker's user administration (``hub.broker.DynSecAdmin``)."""

    def enrol_device(self, device_id: str, password: str) -> None:
        """Let the device connect with this password."""
        ...

    def decommission_device(self, device_id: str) -> None:
        """Refuse the device's connections from now on and drop its live one."""
        ...
