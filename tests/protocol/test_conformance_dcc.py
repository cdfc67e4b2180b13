"""The HC1 path against the EU DCC conformance data (shared/conformance/dcc, from the ``dgc-testdata`` repository).

Every case file is collected. Its ``EXPECTEDRESULTS`` (an absent key: the step is not tested) are turned into the
reasons the spec allows, the case's ``TESTCTX.CERTIFICATE`` goes into a root-signed trust list as a DSC, and
``decide`` runs at ``VALIDATIONCLOCK``. Where the data and the spec part ways, the case is listed below with what we
decide and why, and the test asserts exactly that, so a change of behaviour still breaks it. docs/conformance.md
reports the numbers.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import zxingcpp

from protocol.codec import b45decode, cbor_loads, inflate, split_prefix
from protocol.cose import decode_sign1
from protocol.cwt import CLAIM_IAT
from protocol.decision import Verdict, decide
from protocol.keys import Alg, PrivateKey, generate_private_key
from protocol.reasons import CredentialError, Reason
from protocol.trustlist import TrustList, build_trust_list, parse_trust_list

SHARED = Path(os.environ.get("GRIDPASS_SHARED", Path(__file__).resolve().parents[3] / "shared"))
DCC_DIR = SHARED / "conformance" / "dcc"
CASE_FILES = sorted(DCC_DIR.rglob("*.json")) if DCC_DIR.is_dir() else []
PNG_FILES = sorted(DCC_DIR.rglob("*.png")) if DCC_DIR.is_dir() else []
EXPECTED_CASES = 221

R = Reason
STEP_REASONS: dict[str, frozenset[Reason]] = {
    "EXPECTEDUNPREFIX": frozenset({R.BAD_PREFIX}),
    "EXPECTEDB45DECODE": frozenset({R.BAD_BASE45}),
    "EXPECTEDCOMPRESSION": frozenset({R.BAD_ZLIB}),
    "EXPECTEDVERIFY": frozenset({R.BAD_SIGNATURE, R.UNKNOWN_KID, R.UNSUPPORTED_ALG, R.BAD_COSE}),
    "EXPECTEDDECODE": frozenset({R.BAD_CBOR, R.BAD_COSE}),
    "EXPECTEDVALIDJSON": frozenset({R.BAD_CBOR}),
    "EXPECTEDSCHEMAVALIDATION": frozenset({R.BAD_CBOR}),
    "EXPECTEDKEYUSAGE": frozenset({R.UNTRUSTED_ISSUER}),
    "EXPECTEDEXPIRATIONCHECK": frozenset({R.EXPIRED, R.NOT_YET_VALID}),
}
"""What each step failing may come out as; the steps not listed (picture, encode, valid object) are not decisions."""
TIME_REASONS = STEP_REASONS["EXPECTEDEXPIRATIONCHECK"]
MISSPELT_KEYS = {"EXPTECTEDEXPIRED": "EXPECTEDEXPIRATIONCHECK"}

_AT_EXP = "valid with the validation clock exactly at exp"
_AT_EXP_WHY = "the clock equals exp; RFC 8392 and credentials.md make exp exclusive, so the certificate has expired"
KNOWN_DISAGREEMENTS: dict[str, tuple[str, Reason, str]] = {
    **{f"DK/{n}": (_AT_EXP, R.EXPIRED, _AT_EXP_WHY) for n in (1, 2, 3, 4, 5, 7, 8, 10, 11, 12)},
    **{f"ES/{n}": (_AT_EXP, R.EXPIRED, _AT_EXP_WHY) for n in (1501, 1502, 1503)},
    "common/CO20": (
        "VERIFY true",
        R.UNSUPPORTED_ALG,
        (
            "alg and kid sit only in the unprotected header (the case's description claims otherwise); the spec "
            "honours only a protected alg, which an attacker cannot swap"
        ),
    ),
    "IS/3": (
        "KEYUSAGE false",
        R.OK,
        (
            "the DSC's extended key usage names no DCC OID (only 2.23.136.1.1.14.2), which by the EU rules allows "
            "every type; the case's own description reads 'valid, no key usage'"
        ),
    ),
    "LI/4": (
        "valid (KEYUSAGE not tested)",
        R.UNTRUSTED_ISSUER,
        "a test certificate signed by a DSC whose extended key usage allows vaccinations only",
    ),
}
"""case -> (what the data expects, what we decide, why): data bugs and places where the spec overrides the data."""

NOT_DERIVABLE: dict[str, tuple[Reason, str]] = {
    f"PL/{version}/{n}": (R.OK, why)
    for version in ("1.0.0", "1.2.1", "1.3.0")
    for n, why in (
        (7, "a RAT device id outside the value set"),
        (8, "a recovery entry whose values break the schema's formats"),
        (9, "a vaccination entry whose values break the schema's formats"),
    )
}
"""Schema failures our structural checks do not see (no full JSON schema): case -> (what we decide, what is wrong)."""

PICTURE_DISAGREEMENTS: dict[str, str] = {
    **{f"ES/{n}": "the 2DCODE holds another certificate of the same signer than PREFIX" for n in (501, 502, 503)},
    **{f"ES/png/{n}": "the picture holds a re-issue of the case, not its PREFIX" for n in (2101, 2102, 2103)},
    "GR/png/3": "the picture holds another test certificate of the same signer than GR/3",
}
"""Pictures that do not hold their case's PREFIX; each must still be a genuine HC1 of that case's DSC."""

ORPHAN_PICTURES = {"MA/1.0.0/png/1", "MA/1.0.0/png/2"}
"""Pictures with no case file (hence no certificate): they must read and decode as HC1, and name an unknown kid."""


def case_id(path: Path) -> str:
    """``common/2DCode/raw/CO20.json`` -> ``common/CO20``; ``DE/2DCode/png/1.png`` -> ``DE/png/1``."""
    parts = [p for p in path.relative_to(DCC_DIR).with_suffix("").parts if p.lower() not in ("2dcode", "raw")]
    return "/".join(parts)


def parse_clock(text: str) -> float:
    """ISO 8601 to Unix seconds: up to 9 (or more) fraction digits, ``Z``, ``+hh:mm``, ``+hhmm``, none (= UTC)."""
    match = re.fullmatch(
        r"\s*(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?\s*(Z|z|[+-]\d\d(?::?\d\d)?)?\s*", text
    )
    if match is None:
        raise ValueError(f"not an ISO 8601 instant: {text!r}")
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups()[:6])
    instant = datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    fraction = match.group(7) or ""
    offset = match.group(8) or "Z"
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        instant -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)).total_seconds()
    return instant + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


@dataclass(frozen=True, slots=True)
class Case:
    """One conformance case file, with its expectations normalised."""

    id: str
    data: dict[str, Any]
    expected: dict[str, bool]

    @classmethod
    def load(cls, path: Path) -> Case:
        data = json.loads(path.read_text(encoding="utf-8"))
        raw: dict[str, Any] = data.get("EXPECTEDRESULTS", {})
        nested: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, dict):  # a nested EXPECTEDRESULTS map
                nested.update(value)
            elif key != "EXPECTEDRESULTS":  # a bare EXPECTEDRESULTS flag (ES/100x) says nothing per step
                nested[key] = value
        expected = {MISSPELT_KEYS.get(k, k): v for k, v in nested.items() if isinstance(v, bool)}
        return cls(case_id(path), data, expected)

    @property
    def prefix(self) -> str:
        return str(self.data["PREFIX"])

    @property
    def context(self) -> dict[str, Any]:
        context: dict[str, Any] = self.data.get("TESTCTX", {})
        return context

    def allowed(self) -> frozenset[Reason]:
        """The reasons the data allows: the union over every failing step, or ``ok`` when none fails."""
        failing = [STEP_REASONS[key] for key, value in self.expected.items() if value is False and key in STEP_REASONS]
        return frozenset().union(*failing) if failing else frozenset({R.OK})

    def tests_a_decision(self) -> bool:
        return any(key in STEP_REASONS for key in self.expected)


@functools.cache
def root() -> PrivateKey:
    return generate_private_key(Alg.EDDSA)


def trust_for(certificate_b64: str | None) -> TrustList:
    """A trust list as a reader holds it, with the case's certificate (if any) as its one DSC."""
    dscs = [base64.b64decode(certificate_b64)] if certificate_b64 else []
    return parse_trust_list(build_trust_list(root(), seq=1, ts=0, issuers=[], dscs=dscs), root().public_key())


def issued_at(text: str) -> float | None:
    """The iat of an HC1 text, read past the signature (only to pick a clock inside its validity)."""
    try:
        payload = cbor_loads(decode_sign1(inflate(b45decode(split_prefix(text)[1]))).payload)
    except (CredentialError, ValueError):
        return None
    iat = payload.get(CLAIM_IAT) if isinstance(payload, dict) else None
    return float(iat) if isinstance(iat, int | float) else None


def decide_case(case: Case, text: str, now: float | None = None) -> Verdict:
    if now is None:
        clock = case.context.get("VALIDATIONCLOCK")
        now = parse_clock(clock) if clock else (issued_at(text) or 0.0) + 1
    return decide(text, trust=trust_for(case.context.get("CERTIFICATE")), revocations=frozenset(), now=now)


def read_qr(image_bytes: bytes) -> list[str]:
    """Every QR code's text zxing-cpp finds in a PNG (other barcodes beside it aside; empty when it is no image)."""
    image = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return []
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    return [code.text for code in found]


@functools.cache
def cases() -> dict[str, Case]:
    loaded = {case.id: case for case in map(Case.load, CASE_FILES)}
    assert len(loaded) == len(CASE_FILES), "two case files map to one case id"
    return loaded


def case_of_picture(path: Path) -> Case | None:
    """The case a png/ picture belongs to: same country folder, same name (``_Raw``, ``-``/``_`` aside)."""

    def norm(name: str) -> str:
        return re.sub(r"_raw$", "", name.lower().replace("-", "_"))

    folder = case_id(path).rsplit("/png/", 1)[0]
    for case in cases().values():
        case_folder, _, name = case.id.rpartition("/")
        if case_folder == folder and norm(name) == norm(path.stem):
            return case
    return None


def test_conformance_data_is_all_there(shared_dir: Path) -> None:
    assert shared_dir.resolve() / "conformance" / "dcc" == DCC_DIR.resolve()
    assert len(CASE_FILES) >= EXPECTED_CASES, f"expected at least {EXPECTED_CASES} cases under {DCC_DIR}"
    stale = (set(KNOWN_DISAGREEMENTS) | set(NOT_DERIVABLE) | set(PICTURE_DISAGREEMENTS) | ORPHAN_PICTURES) - (
        set(cases()) | {case_id(p) for p in PNG_FILES}
    )
    assert not stale, f"tables name cases that do not exist: {sorted(stale)}"


@pytest.mark.parametrize("path", CASE_FILES, ids=[case_id(p) for p in CASE_FILES])
def test_case_decision(path: Path) -> None:
    case = cases()[case_id(path)]
    assert "PREFIX" in case.data, f"{case.id}: not a conformance case (no PREFIX)"
    verdict = decide_case(case, case.prefix)
    allowed = case.allowed()
    if case.id in KNOWN_DISAGREEMENTS:
        data_says, ours, why = KNOWN_DISAGREEMENTS[case.id]
        assert ours not in allowed, f"{case.id}: no longer a disagreement ({data_says}); remove it from the table"
        assert verdict.reason is ours, f"{case.id}: decided {verdict.reason}, the table says {ours} because {why}"
        return
    if case.id in NOT_DERIVABLE:
        ours, _ = NOT_DERIVABLE[case.id]
        assert verdict.reason is ours, f"{case.id}: decided {verdict.reason}, the table says {ours}"
        return
    if not case.tests_a_decision():
        # Only the picture is tested (common/Q1): the text itself must still decide without error.
        assert verdict.reason in R, case.id
        return
    if "EXPECTEDEXPIRATIONCHECK" not in case.expected and verdict.reason in TIME_REASONS - allowed:
        # The data does not test time and its clock lies outside the certificate's validity: decide inside it.
        iat = issued_at(case.prefix)
        assert iat is not None, case.id
        verdict = decide_case(case, case.prefix, now=iat)
    assert verdict.reason in allowed, f"{case.id}: decided {verdict.reason.value}, the data allows {sorted(allowed)}"
    if verdict.reason is R.OK:
        assert verdict.kind == "HC1"
        assert verdict.status in ("vaccination", "test", "recovery")


def _check_picture(pid: str, texts: list[str], case: Case, expect_read: bool | None) -> None:
    if expect_read is False:
        assert case.prefix not in texts, f"{pid}: expected unreadable, but zxing-cpp read the PREFIX"
        return
    assert texts, f"{pid}: zxing-cpp read no QR code"
    if pid in PICTURE_DISAGREEMENTS:
        text = next((t for t in texts if t.startswith("HC1:")), texts[0])
        assert text != case.prefix, f"{pid}: now holds its PREFIX; remove it from PICTURE_DISAGREEMENTS"
        iat = issued_at(text)
        assert iat is not None, pid
        assert decide_case(case, text, now=iat).reason is R.OK, f"{pid}: not a genuine HC1 of the case's DSC"
        return
    assert case.prefix in texts, f"{pid}: the picture reads {texts[0][:40]!r}..., not the case's PREFIX"


CASES_WITH_2DCODE = [p for p in CASE_FILES if '"2DCODE"' in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", CASES_WITH_2DCODE, ids=[case_id(p) for p in CASES_WITH_2DCODE])
def test_case_2dcode_picture(path: Path) -> None:
    case = cases()[case_id(path)]
    texts = read_qr(base64.b64decode(case.data["2DCODE"]))
    _check_picture(case.id, texts, case, case.expected.get("EXPECTEDPICTUREDECODE"))


@pytest.mark.parametrize("path", PNG_FILES, ids=[case_id(p) for p in PNG_FILES])
def test_png_picture(path: Path) -> None:
    pid = case_id(path)
    texts = read_qr(path.read_bytes())
    case = case_of_picture(path)
    if case is None:
        assert pid in ORPHAN_PICTURES, f"{pid}: no case file for this picture"
        assert texts, f"{pid}: zxing-cpp read no QR code"
        verdict = decide(texts[0], trust=TrustList.empty(), revocations=frozenset(), now=issued_at(texts[0]) or 0.0)
        assert verdict.reason is R.UNKNOWN_KID, f"{pid}: {verdict.reason}"
        return
    _check_picture(pid, texts, case, case.expected.get("EXPECTEDPICTUREDECODE"))
