"""What can be wrong with the lists a terminal keeps on its SD card; every message says what to do.

A store that cannot be opened is never taken for an empty list: the terminal treats its lists as absent (stale)
and fetches a full snapshot, or an operator applies one with ``gridpass lists apply``.
"""

from __future__ import annotations


class StoreError(Exception):
    """A list store could not be read or written; the message says what to do."""


class StoreMissingError(StoreError):
    """No list is held in the directory yet."""


class StoreCorruptError(StoreError):
    """A file of the store is damaged, truncated, missing or was written by something else."""
