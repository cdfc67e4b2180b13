"""Grid cells: point in polygon with the boundary inside, first cell wins on a shared edge, "" outside."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from device.grid import GridCell, GridError, cell_at, contains

SQUARE = ((31.0, 121.0), (31.0, 121.01), (31.01, 121.01), (31.01, 121.0))
# An L shape (concave): the square minus its upper-right quarter.
L_SHAPE = ((0.0, 0.0), (0.0, 2.0), (1.0, 2.0), (1.0, 1.0), (2.0, 1.0), (2.0, 0.0))


@pytest.mark.parametrize(
    ("lat", "lon", "inside"),
    [
        (31.005, 121.005, True),
        (31.0, 121.005, True),  # on an edge
        (31.0, 121.0, True),  # a vertex
        (31.01, 121.01, True),
        (30.999, 121.005, False),
        (31.005, 121.0101, False),
        (float("nan"), 121.005, False),
    ],
)
def test_square(lat: float, lon: float, inside: bool) -> None:
    assert contains(SQUARE, lat, lon) is inside


@pytest.mark.parametrize(
    ("lat", "lon", "inside"),
    [(0.5, 0.5, True), (0.5, 1.5, True), (1.5, 0.5, True), (1.5, 1.5, False), (1.0, 1.5, True), (1.5, 1.0, True)],
)
def test_concave(lat: float, lon: float, inside: bool) -> None:
    assert contains(L_SHAPE, lat, lon) is inside


def test_first_cell_wins_on_a_shared_edge_and_outside_is_empty() -> None:
    west = GridCell("PD-001", ((0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0)))
    east = GridCell("PD-002", ((0.0, 1.0), (0.0, 2.0), (1.0, 2.0), (1.0, 1.0)))
    assert cell_at([west, east], 0.5, 1.0) == "PD-001"
    assert cell_at([east, west], 0.5, 1.0) == "PD-002"
    assert cell_at([west, east], 0.5, 1.5) == "PD-002"
    assert cell_at([west, east], 5.0, 5.0) == ""
    assert cell_at([], 0.5, 0.5) == ""


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        (((0.0, 0.0), (1.0, 1.0)), "vertices"),
        (((0.0, 0.0), (1.0, 1.0), (2.0, 2.0)), "no area"),
        (((0.0, 0.0), (0.0, 1.0), (91.0, 1.0)), "latitude"),
        (((0.0, -179.0), (0.0, 179.0), (1.0, 179.0)), "antimeridian"),
    ],
)
def test_unusable_cells_are_refused(polygon: tuple[tuple[float, float], ...], message: str) -> None:
    with pytest.raises(GridError, match=message):
        GridCell("X", polygon)


coordinate = st.floats(min_value=-60, max_value=60, allow_nan=False)
size = st.floats(min_value=1e-4, max_value=1.0)


@given(st.tuples(coordinate, coordinate), st.tuples(size, size), st.tuples(st.floats(-2, 2), st.floats(-2, 2)))
def test_rectangle_matches_its_bounds(
    corner: tuple[float, float], extent: tuple[float, float], where: tuple[float, float]
) -> None:
    (lat0, lon0), (h, w), (fy, fx) = corner, extent, where
    polygon = ((lat0, lon0), (lat0, lon0 + w), (lat0 + h, lon0 + w), (lat0 + h, lon0))
    lat, lon = lat0 + fy * h, lon0 + fx * w
    assume(min(abs(lat - lat0), abs(lat - lat0 - h), abs(lon - lon0), abs(lon - lon0 - w)) > 1e-9)  # off the edges
    expected = lat0 <= lat <= lat0 + h and lon0 <= lon <= lon0 + w
    assert contains(polygon, lat, lon) is expected
    assert contains(tuple(reversed(polygon)), lat, lon) is expected  # orientation does not matter
    assert contains(polygon[1:] + polygon[:1], lat, lon) is expected  # nor where the ring starts


@given(st.integers(1, 5), st.integers(1, 5), st.floats(0, 1), st.floats(0, 1))
def test_a_tiling_gives_every_point_exactly_its_tile(rows: int, cols: int, fy: float, fx: float) -> None:
    step = 0.01
    cells = [
        GridCell(
            f"C{r}-{c}",
            (
                (r * step, c * step),
                (r * step, (c + 1) * step),
                ((r + 1) * step, (c + 1) * step),
                ((r + 1) * step, c * step),
            ),
        )
        for r in range(rows)
        for c in range(cols)
    ]
    lat, lon = fy * rows * step, fx * cols * step
    code = cell_at(cells, lat, lon)
    assert code != ""  # the covered area has no holes, boundaries included
    cell = next(c for c in cells if c.code == code)
    assert cell.contains(lat, lon)
    holders = [c.code for c in cells if c.contains(lat, lon)]
    assert holders[0] == code  # the first holder in config order


@given(st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=12), coordinate, coordinate)
def test_arbitrary_polygons_never_raise_and_vertices_are_inside(
    polygon: list[tuple[float, float]], lat: float, lon: float
) -> None:
    assert isinstance(contains(polygon, lat, lon), bool)
    for vertex in polygon:
        assert contains(polygon, *vertex)
