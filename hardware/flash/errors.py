"""What can stop a flashing run; every message says what to do next."""

from __future__ import annotations


class FlashError(Exception):
    """A flashing step failed; the message is for the technician."""


class NotABootPartitionError(FlashError):
    """The target is not a Raspberry Pi OS boot partition (or image); nothing was written."""


class CardStateError(FlashError):
    """The card already belongs to another device, or its gridpass folder is damaged."""


class HubError(FlashError):
    """The hub refused the enrolment (its answer is in the message)."""


class HubUnreachableError(HubError):
    """The hub could not be reached; the enrolment can be queued and delivered later."""


class HubConflictError(HubError):
    """The hub holds this device id with another key."""


class BoardError(FlashError):
    """The signal board could not be flashed or did not answer as expected."""
