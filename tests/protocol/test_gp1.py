"""GP1 passes: the claims layout of the credentials spec, strict parsing, and round trips through the decision."""

from __future__ import annotations

import json
import zlib
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import gp1
from protocol.codec import cbor_dumps, cbor_loads
from protocol.decision import decide
from protocol.keys import Alg, kid_of_public_key
from protocol.reasons import CredentialError, Reason
from protocol.revocation import HeldLists, pass_rid
from tests.protocol.support import (
    CTI,
    GP1_ALGS,
    NOW,
    health_pass,
    issuer_entry,
    pass_body,
    pass_claims,
    signing_key,
    trust_list,
    unb45,
    without,
)

TIMES = st.integers(min_value=0, max_value=2**40 - 2)


@st.composite
def health_passes(draw: st.DrawFn) -> gp1.HealthPass:
    iat = draw(TIMES)
    return gp1.HealthPass(
        iss=draw(st.text(min_size=1, max_size=gp1.MAX_ISS_CHARS)),
        iat=iat,
        exp=draw(st.integers(min_value=iat + 1, max_value=2**40 - 1)),
        cti=draw(st.binary(min_size=16, max_size=16)),
        status=draw(st.sampled_from(gp1.PassStatus)),
        hid=draw(st.binary(min_size=16, max_size=16)),
        nm=draw(st.none() | st.text(max_size=gp1.MAX_NAME_CHARS)),
        since=draw(st.none() | TIMES),
    )


def test_claims_layout_is_the_spec_table() -> None:
    claims = gp1.claims_of(health_pass())
    assert claims == pass_claims()
    assert set(claims) == {1, 4, 6, 7, -65537}
    assert set(claims[-65537]) == {"v", "st", "hid", "nm", "since"}
    assert set(gp1.claims_of(health_pass(nm=None, since=None))[-65537]) == {"v", "st", "hid"}


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "untagged"])
@pytest.mark.parametrize("alg", GP1_ALGS, ids=lambda a: a.name)
def test_encoded_pass_read_back_by_hand(alg: Alg, tagged: bool) -> None:
    """``GP1:`` + Base45(zlib(COSE_Sign1)), checked with the libraries alone."""
    key = signing_key(alg)
    text = gp1.encode_pass(health_pass(), key, tagged=tagged)
    assert text.startswith("GP1:")
    item = cbor2.loads(zlib.decompress(unb45(text[4:])))
    if tagged:
        assert isinstance(item, cbor2.CBORTag)
        assert item.tag == 18
        item = item.value
    protected, unprotected, payload, signature = item
    assert cbor2.loads(protected) == {1: int(alg), 4: kid_of_public_key(key.public_key())}
    assert dict(unprotected) == {}
    assert cbor2.loads(payload) == pass_claims()
    assert payload == cbor2.dumps(pass_claims(), canonical=True)
    assert len(signature) == 64


@given(health_passes())
def test_claims_round_trip(health_pass: gp1.HealthPass) -> None:
    assert gp1.parse_claims(cbor_loads(cbor_dumps(gp1.claims_of(health_pass)))) == health_pass


@given(health_passes(), st.sampled_from(GP1_ALGS), st.booleans(), st.data())
def test_encode_then_decide(health_pass: gp1.HealthPass, alg: Alg, tagged: bool, data: st.DataObject) -> None:
    key = signing_key(alg)
    trust = trust_list(issuer_entry(key, health_pass.iss, nbf=0, exp=2**62))
    now = data.draw(st.integers(min_value=health_pass.iat, max_value=health_pass.exp - 1))
    text = gp1.encode_pass(health_pass, key, tagged=tagged)
    verdict = decide(text, trust=trust, revocations=HeldLists(), now=now)
    expected = {
        gp1.PassStatus.GREEN: Reason.OK,
        gp1.PassStatus.YELLOW: Reason.STATUS_YELLOW,
        gp1.PassStatus.RED: Reason.STATUS_RED,
    }[health_pass.status]
    assert verdict.reason is expected
    assert (verdict.kind, verdict.iss, verdict.status, verdict.exp) == (
        "GP1",
        health_pass.iss,
        health_pass.status.value,
        health_pass.exp,
    )
    assert verdict.kid == kid_of_public_key(key.public_key())
    assert verdict.rid == pass_rid(health_pass.iss, health_pass.cti)
    shown = json.dumps(verdict.to_json())
    assert health_pass.hid.hex() not in shown
    assert health_pass.cti.hex() not in shown
    assert text[4:] not in shown


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param("not a map", id="not-a-map"),
        pytest.param(pass_claims(iss="x" * (gp1.MAX_ISS_CHARS + 1)), id="iss-65-chars"),
        pytest.param(pass_claims(iat=True), id="iat-bool"),
        pytest.param(pass_claims(iat=NOW + 0.5), id="iat-fraction"),
        pytest.param(pass_claims(exp=float("inf")), id="exp-infinite"),
        pytest.param(pass_claims(exp=-(2**40)), id="exp-out-of-range"),
        pytest.param(pass_claims(cti=cbor2.CBORTag(24, CTI)), id="cti-tagged"),
        pytest.param({**pass_claims(), -65537: without(pass_body(), "hid")}, id="no-hid"),
        pytest.param({**pass_claims(), -65537: pass_body(st=None)}, id="st-null"),
        pytest.param({**pass_claims(), -65537: pass_body(v=1.0)}, id="v-float"),
        pytest.param({**pass_claims(), -65537: pass_body(since=1.5)}, id="since-fraction"),
        pytest.param({**pass_claims(), -65537: pass_body(nm="x" * (gp1.MAX_NAME_CHARS + 1))}, id="nm-65-chars"),
        pytest.param({**pass_claims(), -65537: [pass_body()]}, id="body-in-an-array"),
    ],
)
def test_parse_claims_refuses(claims: Any) -> None:  # noqa: ANN401 - any CBOR value
    with pytest.raises(CredentialError) as caught:
        gp1.parse_claims(cbor_loads(cbor2.dumps(claims)))
    assert caught.value.reason is Reason.BAD_CBOR


def test_parse_claims_takes_the_longest_name_and_issuer() -> None:
    longest = health_pass(iss="I" * gp1.MAX_ISS_CHARS, nm="张" * gp1.MAX_NAME_CHARS)
    assert gp1.parse_claims(cbor_loads(cbor_dumps(gp1.claims_of(longest)))) == longest
