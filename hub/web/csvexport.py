"""Statistics as CSV: one row per site, UTC hour and decision, with a header row; safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable

from hub.storage.stats import HourlyCount

CSV_HEADER = ("site", "hour_utc", "hour_unix", "decision", "count")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet would run a cell starting with one of these as a formula: such text gets a leading quote."""


def _cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def hourly_csv(rows: Iterable[HourlyCount]) -> str:
    """The rows as CSV text (RFC 4180: CRLF line ends, quoted where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        hour = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(row.hour))
        writer.writerow((_cell(row.site), hour, row.hour, _cell(row.decision), row.count))
    return out.getvalue()


def filename(since: float, until: float, site: str | None) -> str:
    """A download name for a window (and site), ASCII letters, digits and dashes only."""
    stamp = time.strftime("%Y%m%dT%H", time.gmtime(since)) + "-" + time.strftime("%Y%m%dT%H", time.gmtime(until))
    tag = "" if site is None else "-" + ("".join(c if c.isascii() and c.isalnum() else "-" for c in site) or "nosite")
    return f"gridpass-stats-{stamp}{tag[:40]}.csv"
