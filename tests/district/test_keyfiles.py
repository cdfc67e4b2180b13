"""Key files: private keys 0600 and never overwritten; readable errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from district.keyfiles import KeyFileError, keygen, read_private, read_public
from protocol.keys import Alg, kid_of_public_key


@pytest.mark.parametrize("alg", [Alg.ES256, Alg.EDDSA])
def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path, alg: Alg) -> None:
    private, public, kid = keygen(tmp_path, "root", alg)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert kid_of_public_key(read_public(public)) == kid == kid_of_public_key(read_private(private).public_key())
    assert kid_of_public_key(read_public(private)) == kid  # the public half of a private key file


def test_keys_are_never_overwritten(tmp_path: Path) -> None:
    keygen(tmp_path, "root", Alg.EDDSA)
    with pytest.raises(KeyFileError, match="never overwritten"):
        keygen(tmp_path, "root", Alg.EDDSA)


def test_unreadable_or_wrong_files_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        read_private(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(KeyFileError, match="not a private key"):
        read_private(junk)
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        read_public(junk)
