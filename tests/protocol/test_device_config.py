"""Signed device configurations: the delegation chain, the device binding, bounds, and fuzzing of the parser."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.device_config import (
    MAX_PUSH_BYTES,
    make_delegation,
    open_device_config,
    parse_delegation,
    seal_device_config,
)
from protocol.documents import DocumentError, DocumentProblem
from protocol.keys import Alg, generate_private_key

ROOT = generate_private_key(Alg.EDDSA)
HUB_KEY = generate_private_key(Alg.EDDSA)
OTHER = generate_private_key(Alg.EDDSA)
NOW = 1_800_000_000
DELEGATION = make_delegation(ROOT, "hub-sh", HUB_KEY.public_key(), nbf=NOW - 10, exp=NOW + 86400)
SETTINGS = {"scan": {"hold_off_s": 5.0}, "device": {"site": "SH-PD-2"}, "handheld": {"categories": ["a", "b"]}}


def push(**overrides: object) -> bytes:
    args: dict[str, object] = {"device": "scanner-01", "version": 3, "issued": NOW, "settings": SETTINGS}
    args.update(overrides)
    return seal_device_config(HUB_KEY, DELEGATION, **args)  # type: ignore[arg-type]


def test_a_push_verifies_through_the_delegation() -> None:
    doc = open_device_config(push(), ROOT.public_key(), device="scanner-01")
    assert (doc.device, doc.version, doc.issued, doc.hub) == ("scanner-01", 3, NOW, "hub-sh")
    assert doc.settings == SETTINGS


def test_the_delegation_names_its_hub_and_window() -> None:
    delegation = parse_delegation(DELEGATION, ROOT.public_key())
    assert (delegation.hub, delegation.nbf, delegation.exp) == ("hub-sh", NOW - 10, NOW + 86400)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (lambda: push(device="scanner-02"), DocumentProblem.WRONG_DEVICE),
        (lambda: push(issued=NOW + 2 * 86400), DocumentProblem.WRONG_KEY),
        (lambda: seal_device_config(OTHER, DELEGATION, device="scanner-01", version=1, issued=NOW, settings={}),
         DocumentProblem.WRONG_KEY),
        (lambda: seal_device_config(
            HUB_KEY, make_delegation(OTHER, "hub-sh", HUB_KEY.public_key(), nbf=0, exp=NOW * 2),
            device="scanner-01", version=1, issued=NOW, settings={}), DocumentProblem.WRONG_KEY),
        (lambda: b"\xa0", DocumentProblem.BAD_SCHEMA),
        (lambda: b"\xff\x00", DocumentProblem.BAD_COSE),
        (lambda: b"\x00" * (MAX_PUSH_BYTES + 1), DocumentProblem.TOO_LARGE),
    ],
)  # fmt: skip
def test_refusals_name_their_reason(payload: object, problem: DocumentProblem) -> None:
    with pytest.raises(DocumentError) as caught:
        open_device_config(payload(), ROOT.public_key(), device="scanner-01")  # type: ignore[operator]
    assert caught.value.problem is problem


def test_a_tampered_config_does_not_verify() -> None:
    outer = cbor2.loads(push())
    config = bytearray(outer["config"])
    config[-70] ^= 1
    outer["config"] = bytes(config)
    with pytest.raises(DocumentError) as caught:
        open_device_config(cbor2.dumps(outer), ROOT.public_key(), device="scanner-01")
    assert caught.value.problem in (DocumentProblem.BAD_SIGNATURE, DocumentProblem.BAD_COSE)


@pytest.mark.parametrize(
    "settings",
    [
        {"scan": {"x": {"nested": 1}}},
        {"scan": {"x": float("nan")}},
        {"s" * 65: {}},
        {f"s{i}": {} for i in range(17)},
        {"scan": {"x": "t" * 1025}},
        {"scan": {"x": [[[1]]]}},
    ],
)
def test_settings_are_bounded(settings: dict[str, dict[str, object]]) -> None:
    with pytest.raises((DocumentError, ValueError)):
        push(settings=settings)


@given(st.binary(max_size=2048))
def test_garbage_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(DocumentError):
        open_device_config(data, ROOT.public_key(), device="scanner-01")


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.dictionaries(
            st.text(min_size=1, max_size=8),
            st.one_of(
                st.integers(-(2**31), 2**31), st.booleans(), st.text(max_size=20), st.lists(st.integers(), max_size=4)
            ),
            max_size=4,
        ),
        max_size=4,
    ),
    st.integers(1, 2**62),
)
def test_round_trip(settings: dict[str, dict[str, object]], version: int) -> None:
    doc = open_device_config(push(settings=settings, version=version), ROOT.public_key(), device="scanner-01")
    assert doc.settings == settings
    assert doc.version == version
