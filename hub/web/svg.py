"""Server-side SVG for the dashboard, pure: the schematic site map and the hourly decision chart.

Everything a template inserts from here is built with escaped text (``markupsafe``), so a site, cell or device name
cannot inject markup. Each presence state has a shape as well as a colour (the map does not rely on colour alone):
online a filled circle, offline a triangle, stopped a square, never heard a hollow diamond, pending a hollow circle,
decommissioned a cross. The shapes are ``<symbol>``s defined once per page (``SYMBOLS``) and used by id, so the live
updater recolours a dot by changing its ``href`` and ``class``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from hub.storage.stats import DECISIONS, HOUR_S, PRESENCE_KEYS, FleetEntry, HourlyCount, presence_key

DOT_PX = 14
"""One terminal's cell on the map."""
DOTS_PER_ROW_MAX = 24
CELL_PAD_PX = 6
CELL_LABEL_PX = 16
CELL_GAP_PX = 8
CELLS_PER_ROW = 4
MAP_SCALE = 2
"""The map is drawn at twice its natural size and shrinks to its box (CSS ``max-width``): big dots on a big screen."""

PRESENCE_LABELS: Mapping[str, str] = {
    "online": "online",
    "offline": "offline (connection lost)",
    "stopped": "stopped (clean stop)",
    "unknown": "never heard",
    "pending": "pending approval",
    "decommissioned": "decommissioned",
}
DECISION_COLOURS: Mapping[str, str] = {
    "pass": "#2fbf71",
    "check": "#f2c14e",
    "deny": "#e5484d",
    "invalid": "#9b7cf0",
}

SYMBOLS = Markup(
    '<svg width="0" height="0" class="symbols" aria-hidden="true"><defs>'
    '<symbol id="s-online" viewBox="0 0 14 14"><circle cx="7" cy="7" r="5.5"/></symbol>'
    '<symbol id="s-offline" viewBox="0 0 14 14"><path d="M7 1.5 L12.8 12.5 L1.2 12.5 Z"/></symbol>'
    '<symbol id="s-stopped" viewBox="0 0 14 14"><rect x="2" y="2" width="10" height="10"/></symbol>'
    '<symbol id="s-unknown" viewBox="0 0 14 14"><path d="M7 1.5 L12.5 7 L7 12.5 L1.5 7 Z" fill="none" '
    'stroke-width="2"/></symbol>'
    '<symbol id="s-pending" viewBox="0 0 14 14"><circle cx="7" cy="7" r="4.5" fill="none" stroke-width="2.5"/>'
    "</symbol>"
    '<symbol id="s-decommissioned" viewBox="0 0 14 14"><path d="M2.5 2.5 L11.5 11.5 M11.5 2.5 L2.5 11.5" '
    'fill="none" stroke-width="2.5"/></symbol>'
    "</defs></svg>"
)
"""The shape of each presence state (``PRESENCE_KEYS``), once per page."""


def _dot(entry: FleetEntry, x: int, y: int) -> str:
    key = presence_key(entry)
    label = f"{entry.device_id} ({entry.profile}): {PRESENCE_LABELS[key]}"
    return (
        f'<a href="/web/devices/{escape(entry.device_id)}">'
        f'<use href="#s-{key}" x="{x}" y="{y}" width="{DOT_PX - 2}" height="{DOT_PX - 2}" class="dot {key}" '
        f'data-device="{escape(entry.device_id)}"><title>{escape(label)}</title></use></a>'
    )


@dataclass(frozen=True, slots=True)
class _CellBox:
    name: str
    entries: Sequence[FleetEntry]
    columns: int
    width: int
    height: int


def _cell_box(name: str, entries: Sequence[FleetEntry], columns: int) -> _CellBox:
    rows = max(1, -(-len(entries) // columns))
    width = 2 * CELL_PAD_PX + columns * DOT_PX
    height = CELL_LABEL_PX + 2 * CELL_PAD_PX + rows * DOT_PX
    return _CellBox(name, entries, columns, width, height)


def site_map(site: str, entries: Sequence[FleetEntry]) -> Markup:
    """One site as an SVG: its grid cells as labelled boxes, each terminal a shaped, coloured dot linking to it."""
    cells: dict[str, list[FleetEntry]] = {}
    for entry in entries:
        cells.setdefault(entry.grid_cell, []).append(entry)
    largest = max((len(v) for v in cells.values()), default=1)
    columns = max(4, min(DOTS_PER_ROW_MAX, int(largest**0.5 * 1.6) + 1))
    boxes = [_cell_box(name, members, columns) for name, members in sorted(cells.items())]
    per_row = max(1, min(CELLS_PER_ROW, len(boxes)))
    cell_w = max((b.width for b in boxes), default=0)
    parts: list[str] = []
    y = 0
    for start in range(0, len(boxes), per_row):
        row = boxes[start : start + per_row]
        row_h = max(b.height for b in row)
        for index, box in enumerate(row):
            x = index * (cell_w + CELL_GAP_PX)
            parts.append(
                f'<g class="cell"><rect x="{x}" y="{y}" width="{cell_w}" height="{row_h}" rx="6"/>'
                f'<text x="{x + CELL_PAD_PX}" y="{y + CELL_LABEL_PX - 3}">{escape(box.name or "(no cell)")} '
                f"· {len(box.entries)}</text>"
            )
            for i, entry in enumerate(box.entries):
                dx = x + CELL_PAD_PX + (i % box.columns) * DOT_PX
                dy = y + CELL_LABEL_PX + CELL_PAD_PX + (i // box.columns) * DOT_PX
                parts.append(_dot(entry, dx, dy))
            parts.append("</g>")
        y += row_h + CELL_GAP_PX
    width = max(per_row * (cell_w + CELL_GAP_PX) - CELL_GAP_PX, 1)
    height = max(y - CELL_GAP_PX, 1)
    title = escape(f"site {site or '(no site)'}: {len(entries)} terminals")
    scale = MAP_SCALE
    return Markup(  # noqa: S704 - every text in it went through escape()
        f'<svg class="sitemap" viewBox="0 0 {width} {height}" width="{width * scale}" height="{height * scale}" '
        f'role="img" '
        f'aria-label="{title}"><title>{title}</title>{"".join(parts)}</svg>'
    )


def legend() -> Markup:
    """The presence legend: each shape in its colour with its words."""
    items = "".join(
        f'<li><svg width="16" height="16" aria-hidden="true"><use href="#s-{key}" width="14" height="14" '
        f'class="dot {key}"/></svg> {escape(PRESENCE_LABELS[key])}</li>'
        for key in PRESENCE_KEYS
    )
    return Markup(f'<ul class="legend">{items}</ul>')  # noqa: S704 - labels escaped


CHART_H_PX = 260
CHART_PLOT_W_PX = 1400
"""The bars share about this width: the chart scales to its box, so 6 hours get wide bars and 168 narrow ones."""
CHART_SLOT_MIN_PX = 8
CHART_SLOT_MAX_PX = 48
CHART_LEFT_PX = 56
CHART_BOTTOM_PX = 50
CHART_TOP_PX = 12
TICKS = 4


def _nice_max(value: int) -> int:
    """The smallest 1/2/5 x 10^n at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def hour_label(hour: int) -> str:
    """``HH`` of a UTC hour."""
    return time.strftime("%H", time.gmtime(hour))


def day_label(hour: int) -> str | None:
    """``MM-DD`` at midnight UTC (drawn under the hour), else None."""
    tm = time.gmtime(hour)
    return time.strftime("%m-%d", tm) if tm.tm_hour == 0 else None


def hourly_chart(counts: Sequence[HourlyCount], hours: Sequence[int], *, title: str) -> Markup:
    """Stacked bars per hour, one colour and pattern-free order per decision (pass at the bottom), with a value axis.

    ``hours`` are the bars to draw (UTC hour starts, oldest first); counts of every site in ``counts`` add up.
    """
    per_hour: dict[int, dict[str, int]] = {hour: {} for hour in hours}
    for row in counts:
        if row.hour in per_hour:
            per_hour[row.hour][row.decision] = per_hour[row.hour].get(row.decision, 0) + row.count
    top = _nice_max(max((sum(v.values()) for v in per_hour.values()), default=0))
    plot_h = CHART_H_PX - CHART_BOTTOM_PX - CHART_TOP_PX
    slot = max(CHART_SLOT_MIN_PX, min(CHART_SLOT_MAX_PX, CHART_PLOT_W_PX // max(1, len(hours))))
    gap = max(2, slot // 5)
    bar_w = slot - gap
    width = CHART_LEFT_PX + len(hours) * slot + gap
    parts: list[str] = []
    for tick in range(TICKS + 1):
        value = top * tick // TICKS
        y = CHART_TOP_PX + plot_h - plot_h * tick / TICKS
        parts.append(
            f'<line class="grid" x1="{CHART_LEFT_PX}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{CHART_LEFT_PX - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    label_every = max(1, -(-len(hours) // 48))
    for index, hour in enumerate(hours):
        x = CHART_LEFT_PX + gap + index * slot
        base = float(CHART_TOP_PX + plot_h)
        values = per_hour[hour]
        total = sum(values.values())
        tip = ", ".join(f"{d} {values.get(d, 0)}" for d in DECISIONS)
        stamp = time.strftime("%Y-%m-%d %H:00", time.gmtime(hour))
        parts.append(f'<g class="bar"><title>{stamp} UTC: {total} ({escape(tip)})</title>')
        for decision in (*DECISIONS, *sorted(set(values) - set(DECISIONS))):
            count = values.get(decision, 0)
            if not count:
                continue
            h = plot_h * count / top
            base -= h
            colour = DECISION_COLOURS.get(decision, "#8a8f98")
            parts.append(
                f'<rect x="{x}" y="{base:.1f}" width="{bar_w}" height="{h:.1f}" fill="{colour}" '
                f'class="seg {escape(decision)}"/>'
            )
        parts.append("</g>")
        centre = x + bar_w / 2
        if index % label_every == 0:
            parts.append(
                f'<text class="axis" x="{centre:.1f}" y="{CHART_H_PX - CHART_BOTTOM_PX + 14}" '
                f'text-anchor="middle">{escape(hour_label(hour))}</text>'
            )
        if (day := day_label(hour)) is not None:
            parts.append(
                f'<text class="axis day" x="{centre:.1f}" y="{CHART_H_PX - CHART_BOTTOM_PX + 27}" '
                f'text-anchor="middle">{escape(day)}</text>'
            )
    key = "".join(
        f'<rect x="{CHART_LEFT_PX + i * 110}" y="{CHART_H_PX - 14}" width="12" height="12" fill="{colour}"/>'
        f'<text class="axis" x="{CHART_LEFT_PX + i * 110 + 18}" y="{CHART_H_PX - 3}">{decision}</text>'
        for i, (decision, colour) in enumerate(DECISION_COLOURS.items())
    )
    safe_title = escape(title)
    return Markup(  # noqa: S704 - every text in it went through escape()
        f'<svg class="chart" viewBox="0 0 {width} {CHART_H_PX}" width="{width}" height="{CHART_H_PX}" role="img" '
        f'aria-label="{safe_title}"><title>{safe_title}</title>{"".join(parts)}{key}</svg>'
    )


def hours_of(since: float, until: float) -> list[int]:
    """The UTC hour starts from ``since``'s hour up to (not including) ``until``."""
    first = int(since // HOUR_S) * HOUR_S
    return list(range(first, int(until), HOUR_S))
