"""Where a login may send the browser afterwards: only the dashboard's own pages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.web.session import HOME_PATH, safe_next


def test_dashboard_paths_are_kept_and_anything_else_goes_home() -> None:
    assert safe_next("/web/devices?site=Metro") == "/web/devices?site=Metro"
    for target in (None, "", "https://evil.example/web/", "//evil.example/web/", "/api/v1/users", "web/", "/web",
                   "javascript:alert(1)", "/web/" + "x" * 600):  # fmt: skip
        assert safe_next(target) == HOME_PATH


@given(st.text(max_size=200))
def test_the_answer_is_always_a_local_dashboard_path(target: str) -> None:
    result = safe_next(target)
    assert result.startswith("/web/")
    assert not result.startswith("//")
    assert "://" not in result.split("?", 1)[0]
