"""Which grid cell a position falls in: pure geometry over the grid cells of the config.

A cell is a code and a polygon of (lat, lon) vertices, taken as a plane polygon in degrees (grid cells are a few
hundred metres across, far from the poles; a cell must not cross the antimeridian). Edge rule: a point on a cell's
boundary (an edge or a vertex) belongs to that cell; where cells share an edge, the first cell in config order wins,
so every position gets one answer and the same answer every time. Outside every cell the answer is ``""``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_VERTICES = 3
MAX_VERTICES = 1000
"""Vertices of one cell's polygon at most (district base data draws cells with a few dozen)."""
EDGE_EPS_DEG = 1e-12
"""Cross products within this of zero count as on the line (degrees squared; about a micrometre at the equator)."""

Point = tuple[float, float]


class GridError(ValueError):
    """A grid cell that is not a usable polygon."""


@dataclass(frozen=True, slots=True)
class GridCell:
    """A code and its polygon of (lat, lon) vertices (not closed: the last vertex joins the first)."""

    code: str
    polygon: tuple[Point, ...]

    def __post_init__(self) -> None:
        if not MIN_VERTICES <= len(self.polygon) <= MAX_VERTICES:
            raise GridError(f"cell {self.code}: a polygon needs {MIN_VERTICES} to {MAX_VERTICES} vertices")
        for lat, lon in self.polygon:
            if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
                raise GridError(f"cell {self.code}: vertex ({lat}, {lon}) is not a latitude and longitude")
        lons = [lon for _, lon in self.polygon]
        if max(lons) - min(lons) > 180:
            raise GridError(f"cell {self.code}: crosses the antimeridian (split it in two)")
        if abs(_area2(self.polygon)) <= EDGE_EPS_DEG:
            raise GridError(f"cell {self.code}: the polygon has no area")

    def contains(self, lat: float, lon: float) -> bool:
        """True inside or on the boundary."""
        return contains(self.polygon, lat, lon)


def _area2(polygon: Sequence[Point]) -> float:
    """Twice the signed area (shoelace)."""
    total = 0.0
    for i, (y1, x1) in enumerate(polygon):
        y2, x2 = polygon[(i + 1) % len(polygon)]
        total += x1 * y2 - x2 * y1
    return total


def _on_segment(lat: float, lon: float, a: Point, b: Point) -> bool:
    (ay, ax), (by, bx) = a, b
    cross = (bx - ax) * (lat - ay) - (by - ay) * (lon - ax)
    if abs(cross) > EDGE_EPS_DEG:
        return False
    return min(ax, bx) <= lon <= max(ax, bx) and min(ay, by) <= lat <= max(ay, by)


def contains(polygon: Sequence[Point], lat: float, lon: float) -> bool:
    """Point in polygon (even-odd ray casting along longitude), with the boundary counted as inside."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    inside = False
    count = len(polygon)
    for i in range(count):
        a, b = polygon[i], polygon[(i + 1) % count]
        if _on_segment(lat, lon, a, b):
            return True
        (ay, ax), (by, bx) = a, b
        if (ay > lat) != (by > lat):  # the edge straddles the point's latitude (half-open: no double count at vertices)
            crossing_lon = ax + (lat - ay) * (bx - ax) / (by - ay)
            if lon < crossing_lon:
                inside = not inside
    return inside


def cell_at(cells: Sequence[GridCell], lat: float, lon: float) -> str:
    """The code of the first cell holding the position, or ``""`` outside every cell."""
    for cell in cells:
        if cell.contains(lat, lon):
            return cell.code
    return ""
