"""Administration of the MQTT broker: which terminals and hub workers may connect, and to which topics."""

from __future__ import annotations

from hub.broker.dynsec import BrokerAdminError, BrokerClient, DynSecAdmin

__all__ = ["BrokerAdminError", "BrokerClient", "DynSecAdmin"]
