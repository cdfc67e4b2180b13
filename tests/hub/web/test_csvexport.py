"""The statistics CSV: header, RFC 4180 quoting, spreadsheet formulas neutralised, safe file names."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from hub.storage.stats import HourlyCount
from hub.web.csvexport import CSV_HEADER, filename, hourly_csv

HOUR = 1_800_000_000 // 3600 * 3600


def test_rows_round_trip_with_a_header() -> None:
    text = hourly_csv([HourlyCount('Metro "2", west', HOUR, "pass", 7), HourlyCount("", HOUR + 3600, "deny", 1)])
    assert text.startswith(",".join(CSV_HEADER) + "\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ['Metro "2", west', "2027-01-15T08:00:00Z", str(HOUR), "pass", "7"]
    assert rows[2][0] == ""


def test_formula_cells_are_quoted_away() -> None:
    rows = list(csv.reader(io.StringIO(hourly_csv([HourlyCount("=HYPERLINK(1)", HOUR, "pass", 1)]))))
    assert rows[1][0] == "'=HYPERLINK(1)"


@given(st.text(max_size=64))
def test_any_site_name_comes_back_and_never_starts_a_formula(site: str) -> None:
    text = hourly_csv([HourlyCount(site, HOUR, "pass", 1)])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    cell = rows[1][0]
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell.removeprefix("'") == site or cell == site


@given(st.text(max_size=80))
def test_file_names_are_plain(site: str) -> None:
    name = filename(HOUR, HOUR + 86400, site)
    assert name.startswith("gridpass-stats-")
    assert name.endswith(".csv")
    assert all(c.isascii() and (c.isalnum() or c in "-._") for c in name)
