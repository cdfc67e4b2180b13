"""`gridpass district`: the tools make data the checkpoint accepts, and refuse to damage what exists."""

from __future__ import annotations

import json
import stat

from protocol.keys import load_public_key_pem
from protocol.trustlist import parse_trust_list
from tests.cli.conftest import District, gridpass


def test_keygen_prints_no_private_key(district: District) -> None:
    result = gridpass("district", "keygen", "other", "--out", district.dir)
    assert result.exit_code == 0
    assert "PRIVATE" not in result.output
    assert stat.S_IMODE((district.dir / "other.key.pem").stat().st_mode) == 0o600
    again = gridpass("district", "keygen", "other", "--out", district.dir)
    assert again.exit_code == 3 and "never overwritten" in again.stderr


def test_trust_list_seq_increases_on_every_run(district: District) -> None:
    root = load_public_key_pem(district.root_public.read_bytes())
    assert parse_trust_list(district.trust.read_bytes(), root).seq == 1
    result = gridpass(
        "district", "trust-list", "--root", district.root_private, "--out", district.trust,
        "--issuer", f"{district.dir / 'hz.pub.pem'}=CN-ZJ-HZ",
    )  # fmt: skip
    assert result.exit_code == 0
    assert json.loads(result.stdout)["seq"] == 2
    assert parse_trust_list(district.trust.read_bytes(), root).seq == 2


def test_issue_options_and_bad_values(district: District) -> None:
    result = gridpass(
        "district", "issue", "--key", district.issuer_private, "--iss", "CN-ZJ-HZ", "--status", "red",
        "--holder", "ab" * 16, "--issued-at", "1800000000", "--expires", "1800003600", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["status"], out["hid"], out["iat"], out["exp"]) == ("red", "ab" * 16, 1800000000, 1800003600)
    bad = gridpass("district", "issue", "--key", district.issuer_private, "--iss", "X", "--holder", "xyz")
    assert bad.exit_code == 2 and "not hex" in bad.stderr
    plain = gridpass("district", "issue", "--key", district.issuer_private, "--iss", "X")
    assert plain.stdout.startswith("GP1:")


def test_revoke_by_ids(district: District) -> None:
    cti, hid = district.pass_json["cti"], district.pass_json["hid"]
    result = gridpass(
        "district", "revoke", "--root", district.root_private, "--state", district.dir / "s", "--list", "L-1",
        "--pass", f"{cti}@CN-ZJ-HZ", "--holder", f"{hid}@CN-ZJ-HZ",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["entries"] == 2
    bad = gridpass(
        "district", "revoke", "--root", district.root_private, "--state", district.dir / "s", "--list", "L-1",
        "--pass", "00",
    )  # fmt: skip
    assert bad.exit_code == 2 and "HEX@ISS" in bad.stderr
