"""`gridpass lists`: loading signed lists into a terminal's store by hand, and checking rids against it."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from district.keyfiles import read_private
from protocol.keys import Alg, generate_private_key
from protocol.revocation import build_revocation_update
from tests.cli.conftest import District, gridpass, last_json

LIST_ID = "CN-SH-PD"


def rid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def write_update(
    district: District, name: str, seq: int, base: int, add: Sequence[int], *, delete: Sequence[int] = ()
) -> Path:
    document = build_revocation_update(
        read_private(district.root_private), list_id=LIST_ID, seq=seq, base=base, ts=1_000 + seq,
        add=[rid(n) for n in add], delete=[rid(n) for n in delete],
    )  # fmt: skip
    path = district.dir / name
    path.write_bytes(document)
    return path


def apply(
    district: District, *documents: Path, store: str = "store", extra: tuple[str, ...] = ()
) -> tuple[int, dict[str, object], str]:
    result = gridpass(
        "lists", "apply", "--store", district.dir / store, "--root", district.root_public, *extra, *documents
    )
    return result.exit_code, last_json(result), result.stderr


def check(district: District, stdin: str, *extra: str) -> tuple[int, str, str]:
    result = gridpass("lists", "check", "--store", district.dir / "store", *extra, stdin=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_apply_in_order_then_check(district: District) -> None:
    snapshot = write_update(district, "r1.cose", 1, 0, [1, 2, 3])
    delta = write_update(district, "r2.cose", 2, 1, [4], delete=[1])
    code, held, stderr = apply(district, snapshot, district.trust, delta)
    assert (code, held, stderr) == (0, {"list": LIST_ID, "seq": 2, "entries": 3, "trust_seq": 1}, "")
    code, out, _ = check(district, "".join(f"{rid(n).hex()}\n" for n in range(6)))
    assert (code, out) == (0, "0\n0\n1\n1\n1\n0\n")
    code, out, _ = check(district, f"{rid(2).hex().upper()}\r\n{rid(9).hex()}")  # CRLF, upper case, no final newline
    assert (code, out) == (0, "1\n0\n")


def test_a_revoked_pass_is_found_by_its_rid(district: District) -> None:
    base = (
        "district",
        "revoke",
        "--root",
        district.root_private,
        "--state",
        district.dir / "ledger",
        "--list",
        LIST_ID,
    )
    assert gridpass(*base, "--qr", district.qr, "--out", district.dir / "r1.cose").exit_code == 0
    code, held, _ = apply(district, district.dir / "r1.cose")
    assert (code, held["seq"], held["entries"]) == (0, 1, 1)
    code, out, _ = check(district, f"{district.pass_json['pass_rid']}\n{district.pass_json['holder_rid']}\n")
    assert (code, out) == (0, "1\n0\n")


def test_updates_that_cannot_be_applied_are_skipped_with_the_reason(district: District) -> None:
    snapshot = write_update(district, "r1.cose", 1, 0, [1])
    gap = write_update(district, "r3.cose", 3, 2, [7])
    foreign_root = generate_private_key(Alg.EDDSA)
    foreign = district.dir / "foreign.cose"
    foreign.write_bytes(build_revocation_update(foreign_root, list_id=LIST_ID, seq=2, base=1, ts=1, add=[rid(5)]))
    other_list = district.dir / "other.cose"
    root = read_private(district.root_private)
    other_list.write_bytes(build_revocation_update(root, list_id="CN-SH-XH", seq=2, base=0, ts=1, add=[rid(6)]))
    garbage = district.dir / "garbage.cose"
    garbage.write_bytes(b"\xa1\x61v\x01")
    code, held, stderr = apply(district, snapshot, gap, foreign, other_list, snapshot, garbage)
    assert (code, held["list"], held["seq"], held["entries"], held["trust_seq"]) == (0, LIST_ID, 1, 1, 0)
    lines = stderr.splitlines()
    assert len(lines) == 5
    assert "r3.cose: skipped (gap" in lines[0] and "fetch versions 2..2" in lines[0]
    assert "foreign.cose: skipped (wrong_key" in lines[1] and "--root" in lines[1]
    assert "other.cose: skipped (wrong_list" in lines[2]
    assert "r1.cose: skipped (not_newer" in lines[3]
    assert "garbage.cose: skipped (bad_cose" in lines[4]


def test_an_unreadable_file_is_exit_3_after_applying_the_rest(district: District) -> None:
    snapshot = write_update(district, "r1.cose", 1, 0, [1])
    code, held, stderr = apply(district, district.dir / "missing.cose", snapshot)
    assert (code, held["seq"]) == (3, 1)
    assert "missing.cose: skipped, cannot read it" in stderr


def test_the_list_id_is_fixed(district: District) -> None:
    snapshot = write_update(district, "r1.cose", 1, 0, [1])
    code, held, _ = apply(district, district.trust, extra=("--list", "CN-SH-XH"))
    assert (code, held) == (0, {"list": "CN-SH-XH", "seq": 0, "entries": 0, "trust_seq": 1})
    code, held, stderr = apply(district, snapshot, extra=("--list", "CN-SH-XH"))
    assert (code, held["seq"]) == (0, 0) and "wrong_list" in stderr
    code, held, _ = apply(district, snapshot, store="second")
    assert (code, held["list"]) == (0, LIST_ID)
    result = gridpass("lists", "apply", "--store", district.dir / "second", "--root", district.root_public,
                      "--list", "CN-SH-XH", snapshot)  # fmt: skip
    assert result.exit_code == 2 and f"holds list {LIST_ID}" in result.stderr
    result = gridpass("lists", "check", "--store", district.dir / "second", "--list", "CN-SH-XH", stdin="")
    assert result.exit_code == 2


def test_malformed_lines_get_no_answer_and_exit_3(district: District) -> None:
    apply(district, write_update(district, "r1.cose", 1, 0, [1]))
    lines = [rid(1).hex(), "zz" * 16, rid(1).hex()[:-1], "", rid(2).hex(), f"{rid(1).hex()} x"]
    code, out, stderr = check(district, "\n".join(lines) + "\n")
    assert (code, out) == (3, "1\n0\n")
    assert "line 2 is not 32 hex digits" in stderr and "4 line(s)" in stderr


def test_check_without_a_store_is_exit_3(district: District) -> None:
    code, out, stderr = check(district, rid(1).hex() + "\n")
    assert (code, out) == (3, "")
    assert "no revocation list is held" in stderr


def test_a_damaged_store_is_reported_not_taken_for_empty(district: District) -> None:
    apply(district, write_update(district, "r1.cose", 1, 0, [1]))
    (district.dir / "store" / "revocations" / "manifest.json").write_text("{")
    code, out, stderr = check(district, rid(1).hex() + "\n")
    assert (code, out) == (3, "")
    assert "damaged" in stderr and "apply a full snapshot" in stderr


def test_check_answers_many_lines_in_order(district: District) -> None:
    revoked = list(range(0, 40_000, 3))
    apply(district, write_update(district, "r1.cose", 1, 0, revoked))
    rng = random.Random(5)
    queries = [rng.randrange(40_000) for _ in range(20_000)]
    code, out, _ = check(district, "".join(f"{rid(n).hex()}\n" for n in queries))
    assert code == 0
    assert out.split() == ["1" if n % 3 == 0 else "0" for n in queries]


@pytest.mark.parametrize("command", ["apply", "check"])
def test_commands_are_documented(command: str) -> None:
    result = gridpass("lists", command, "--help")
    assert result.exit_code == 0 and "--store" in result.stdout
