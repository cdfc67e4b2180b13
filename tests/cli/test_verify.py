"""`gridpass verify`: the decision's command-line contract for operators and external checkers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import cv2

from district.passes import qr_image
from tests.cli.conftest import District, gridpass, last_json


def verify(district: District, *args: str | Path, stdin: str | None = None) -> tuple[int, dict[str, object]]:
    result = gridpass("verify", "--root", district.root_public, "--trust", district.trust, *args, stdin=stdin)
    return result.exit_code, last_json(result)


def test_a_green_pass_passes(district: District) -> None:
    code, out = verify(district, district.qr)
    assert code == 0
    assert (out["decision"], out["reason"], out["kind"], out["iss"]) == ("pass", "ok", "GP1", "CN-ZJ-HZ")
    assert out["trust_seq"] == 1


def test_deny_and_invalid_still_exit_zero(district: District) -> None:
    code, out = verify(district, "--at", str(int(str(district.pass_json["exp"])) + 1), district.qr)
    assert (code, out["decision"], out["reason"]) == (0, "deny", "expired")
    code, out = verify(district, "not a pass")
    assert (code, out["decision"], out["reason"]) == (0, "invalid", "bad_prefix")


def test_qr_text_from_stdin(district: District) -> None:
    code, out = verify(district, "-", stdin=district.qr + "\n")
    assert (code, out["reason"]) == (0, "ok")


def test_image_png_and_jpeg(district: District, tmp_path: Path) -> None:
    for suffix in (".png", ".jpg"):
        path = tmp_path / f"pass{suffix}"
        cv2.imwrite(str(path), qr_image(district.qr))
        code, out = verify(district, "--image", path)
        assert (code, out["reason"]) == (0, "ok"), suffix


def test_an_image_without_a_code_is_an_input_error(district: District, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), qr_image("x")[:5, :5])
    result = gridpass("verify", "--root", district.root_public, "--trust", district.trust, "--image", blank)
    assert result.exit_code == 3
    assert "no QR code" in result.stderr


def test_revocations_apply_in_order_and_a_gap_is_skipped(district: District) -> None:
    state = district.dir / "ledger"
    base = ("district", "revoke", "--root", district.root_private, "--state", state, "--list", "CN-SH-PD")
    first = gridpass(*base, "--qr", district.qr, "--out", district.dir / "r1.cose")
    second = gridpass(*base, "--unrevoke", "00" * 16, "--out", district.dir / "r2.cose")
    assert first.exit_code == second.exit_code == 0
    code, out = verify(
        district, "--revocations", district.dir / "r1.cose", "--revocations", district.dir / "r2.cose", district.qr
    )
    assert (code, out["reason"], out["revocations"]) == (0, "revoked", {"CN-SH-PD": 2})
    result = gridpass(
        "verify", "--root", district.root_public, "--trust", district.trust,
        "--revocations", district.dir / "r2.cose", district.qr,
    )  # fmt: skip
    assert last_json(result)["reason"] == "ok"
    assert "skipped" in result.stderr and "gap" in result.stderr


def test_a_trust_list_under_another_root_is_reported_and_not_applied(district: District) -> None:
    result = gridpass("verify", "--root", district.dir / "hz.pub.pem", "--trust", district.trust, district.qr)
    assert result.exit_code == 0
    assert last_json(result)["reason"] == "unknown_kid"
    assert "not applied" in result.stderr


def test_max_age_turns_pass_into_check(district: District) -> None:
    later = str(int(time.time()) + 100)
    code, out = verify(district, "--at", later, "--max-age", "10", district.qr)
    assert (code, out["decision"], out["reason"]) == (0, "check", "lists_stale")
    code, out = verify(district, "--at", later, "--max-age", "1000", district.qr)
    assert out["reason"] == "ok"


def test_usage_and_unreadable_files_exit_non_zero_with_a_message(district: District) -> None:
    result = gridpass("verify", "--root", district.root_public, "--trust", district.trust)
    assert result.exit_code == 2 and "either the QR text or --image" in result.stderr
    result = gridpass("verify", "--root", district.dir / "missing.pem", "--trust", district.trust, "x")
    assert result.exit_code == 3 and "cannot read" in result.stderr
    result = gridpass("verify", "--root", district.root_public, "--trust", district.dir / "missing.cose", "x")
    assert result.exit_code == 3 and "cannot read" in result.stderr


def test_the_installed_console_script_keeps_the_contract(district: District) -> None:
    done = subprocess.run(
        [
            Path(sys.executable).parent / "gridpass",
            "verify",
            "--root",
            district.root_public,
            "--trust",
            district.trust,
            district.qr,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["decision"] == "pass"
