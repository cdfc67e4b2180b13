"""Hub tokens: only their hashes are kept; a malformed tokens file is named by line."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from district.server.tokens import TokenFileError, add_hub, hub_of, load_tokens, parse_tokens, token_hash


def test_a_new_hub_gets_a_private_token_file_and_the_district_keeps_its_hash(tmp_path: Path) -> None:
    tokens = tmp_path / "hubs.tokens"
    token = add_hub(tokens, "hub-a", tmp_path / "hub-a.token")
    assert (tmp_path / "hub-a.token").read_text().strip() == token
    assert stat.S_IMODE((tmp_path / "hub-a.token").stat().st_mode) == 0o600
    assert token not in tokens.read_text()
    hubs = load_tokens(tokens)
    assert hub_of(hubs, token) == "hub-a"
    assert hub_of(hubs, token + "x") is None
    with pytest.raises(TokenFileError, match="already"):
        add_hub(tokens, "hub-a", tmp_path / "again.token")
    with pytest.raises(TokenFileError, match="never overwritten"):
        add_hub(tokens, "hub-b", tmp_path / "hub-a.token")


@pytest.mark.parametrize("line", ["hub-a", "hub a " + "0" * 64, "hub-a xyz", f"hub/a {'0' * 64}"])
def test_malformed_lines_are_named(line: str) -> None:
    with pytest.raises(TokenFileError, match=":2:"):
        parse_tokens(f"# hubs\n{line}\n")


@given(st.text(max_size=300))
def test_any_tokens_text_is_read_or_refused(text: str) -> None:
    try:
        hubs = parse_tokens(text)
    except TokenFileError:
        return
    assert all(len(digest) == 64 for digest in hubs)


def test_a_missing_tokens_file_is_no_hub(tmp_path: Path) -> None:
    assert load_tokens(tmp_path / "none") == {}
    assert hub_of({token_hash("t"): "h"}, "") is None
