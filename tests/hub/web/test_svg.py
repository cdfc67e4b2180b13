"""The schematic map and the hourly chart, drawn on the server: shapes per state, escaping, bars that add up."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from hub.storage.devices import DeviceStatus
from hub.storage.stats import HOUR_S, FleetEntry, HourlyCount
from hub.web import svg

SVG_NS = ""
"""The drawings carry no xmlns (they are inline in HTML), so their elements have no namespace."""


def _entry(device_id: str, *, state: str | None = "online", status: DeviceStatus = DeviceStatus.ENROLLED,
           site: str = "S", cell: str = "A1") -> FleetEntry:  # fmt: skip
    return FleetEntry(device_id, status, "scanner", site, cell, state, state == "online", None, None, None, None, None)


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(  # noqa: S314 - our own drawing, parsed to check it is well-formed
        markup.replace('href="', 'xlink:href="').replace("<svg ", '<svg xmlns:xlink="x" ', 1)
    )


def test_every_state_has_its_own_shape_and_words() -> None:
    entries = [
        _entry("a-1"), _entry("a-2", state="offline"), _entry("a-3", state="stopped"), _entry("a-4", state=None),
        _entry("a-5", status=DeviceStatus.PENDING, state=None),
        _entry("a-6", status=DeviceStatus.DECOMMISSIONED, state="online"),
    ]  # fmt: skip
    drawn = str(svg.site_map("S", entries))
    uses = re.findall(r'<use href="#s-([a-z]+)"[^>]*data-device="([a-z0-9-]+)"><title>([^<]+)</title>', drawn)
    assert [(key, device) for key, device, _ in uses] == [
        ("online", "a-1"), ("offline", "a-2"), ("stopped", "a-3"), ("unknown", "a-4"), ("pending", "a-5"),
        ("decommissioned", "a-6"),
    ]  # fmt: skip
    assert "never heard" in uses[3][2]
    symbols = str(svg.SYMBOLS)
    shapes = {key: re.search(rf'<symbol id="s-{key}"[^>]*>(.*?)</symbol>', symbols) for key in svg.PRESENCE_LABELS}
    assert all(shapes.values())
    assert len({m.group(1) for m in shapes.values() if m}) == len(shapes)  # no two states share a shape


def test_cells_are_boxes_with_their_counts() -> None:
    entries = [_entry(f"d-{i}", cell=f"C{i % 3}") for i in range(10)]
    drawn = str(svg.site_map("Metro", entries))
    assert re.findall(r"<text[^>]*>(C\d) · (\d+)</text>", drawn) == [("C0", "4"), ("C1", "3"), ("C2", "3")]
    _parse(drawn)  # well-formed


def test_names_cannot_inject_markup() -> None:
    drawn = str(svg.site_map("<script>x</script>", [_entry("d-1", cell='"><img src=x>')]))
    assert "<script>" not in drawn
    assert "<img" not in drawn
    _parse(drawn)


def test_chart_bars_add_up_and_are_well_formed() -> None:
    start = 1_800_000_000 // HOUR_S * HOUR_S
    hours = [start + i * HOUR_S for i in range(6)]
    rows = [HourlyCount("A", hours[1], "pass", 30), HourlyCount("B", hours[1], "pass", 10),
            HourlyCount("A", hours[1], "deny", 5), HourlyCount("A", hours[4], "invalid", 2)]  # fmt: skip
    drawn = str(svg.hourly_chart(rows, hours, title="t <b>"))
    root = _parse(drawn)
    bars = root.findall(f"{SVG_NS}g[@class='bar']")
    assert len(bars) == 6
    titles = [bar.find(f"{SVG_NS}title").text or "" for bar in bars]  # type: ignore[union-attr]
    assert titles[1].endswith(": 45 (pass 40, check 0, deny 5, invalid 0)")
    assert len(bars[1].findall(f"{SVG_NS}rect")) == 2
    assert bars[0].findall(f"{SVG_NS}rect") == []
    assert "<b>" not in drawn


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30))
def test_the_value_axis_always_holds_the_tallest_bar(values: list[int]) -> None:
    top = svg._nice_max(max(values))
    assert top >= max(values)
    assert top >= 1
    assert str(top)[0] in "125"
