"""Fixtures of the district center tests: a district on disk and the center behind a test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from district.server.app import create_app
from tests.district.server.support import TOKEN, District, make_district


@pytest.fixture
def district(tmp_path: Path) -> District:
    """A district's key, hub tokens and (empty) lists on disk."""
    return make_district(tmp_path / "district")


@pytest.fixture
def center(district: District) -> Iterator[TestClient]:
    """The center, called as hub ``hub-a``."""
    with TestClient(create_app(district.settings), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client
