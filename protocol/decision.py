"""The decision: one QR text in, one decision and one reason out, in the spec's order.

    bounds and decoding -> signature and trust -> validity time -> revocation -> status (-> stale lists)

Pure: the trust list, the revocation view, the clock state and ``now`` come in as arguments. The verdict carries
no personal data: no name, no holder pseudonym, no pass text; only hashes and the spec's words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol import gp1, hc1
from protocol.codec import b45decode, cbor_loads, inflate, split_prefix
from protocol.cose import HEADER_KID, CoseError, Sign1, decode_sign1
from protocol.dsc import DccType
from protocol.keys import Alg, verify
from protocol.reasons import CredentialError, Decision, Reason
from protocol.revocation import RevocationView, hc1_signature_rid, holder_rid, pass_rid
from protocol.trustlist import TrustList

ALLOWED_ALGS: dict[str, frozenset[int]] = {
    gp1.PREFIX: frozenset({Alg.ES256, Alg.EDDSA}),
    hc1.PREFIX: frozenset({Alg.ES256, Alg.PS256}),
}
PAYLOAD_CBOR_DEPTH = 12  # a DCC nests map > map > array > map; GP1 far less


@dataclass(frozen=True, slots=True)
class ClockState:
    """What the terminal knows about its own clock.

    ``last_trusted`` is the newest time it has trusted (from the hub or NTP), persisted across reboots; a ``now``
    older than that means the clock went backwards (no RTC, a flat battery) and no pass is granted on it.
    """

    last_trusted: float | None = None

    def vouches_for(self, now: float) -> bool:
        """Whether ``now`` can be believed."""
        return self.last_trusted is None or now >= self.last_trusted


@dataclass(frozen=True, slots=True)
class ListFreshness:
    """How old the lists the decision relies on are; ``max_age_s`` None turns the staleness rule off."""

    age_s: float | None = None
    max_age_s: float | None = None

    @property
    def stale(self) -> bool:
        """True when some list is older than the configured maximum age."""
        return self.age_s is not None and self.max_age_s is not None and self.age_s > self.max_age_s


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one scan; safe to log, store and send: it holds no personal data."""

    decision: Decision
    reason: Reason
    kind: str | None = None
    """``GP1`` or ``HC1`` once the prefix is known."""
    iss: str | None = None
    kid: bytes | None = None
    status: str | None = None
    """GP1: green, yellow or red; HC1: vaccination, test or recovery."""
    exp: float | None = None
    rid: bytes | None = None
    """The credential's own revocation id (pass rid for GP1, signature rid for HC1): a hash, never the id."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (bytes as hex)."""
        return {
            "decision": self.decision.value,
            "reason": self.reason.value,
            "kind": self.kind,
            "iss": self.iss,
            "kid": self.kid.hex() if self.kid else None,
            "status": self.status,
            "exp": self.exp,
            "rid": self.rid.hex() if self.rid else None,
        }


@dataclass(slots=True)
class _Partial:
    """What is known so far, so that even a refusal reports kind, issuer and kid."""

    kind: str | None = None
    iss: str | None = None
    kid: bytes | None = None
    status: str | None = None
    exp: float | None = None
    rid: bytes | None = None

    def verdict(self, reason: Reason) -> Verdict:
        return Verdict(reason.decision, reason, self.kind, self.iss, self.kid, self.status, self.exp, self.rid)


def decide(
    text: str,
    *,
    trust: TrustList,
    revocations: RevocationView,
    now: float,
    clock: ClockState | None = None,
    freshness: ListFreshness | None = None,
) -> Verdict:
    """Decide one scanned QR text. Never raises for any input text."""
    known = _Partial()
    try:
        return _decide(text, known, trust, revocations, now, clock or ClockState(), freshness or ListFreshness())
    except CredentialError as exc:
        return known.verdict(exc.reason)


def _decide(  # noqa: PLR0917 - private, called from decide() only
    text: str,
    known: _Partial,
    trust: TrustList,
    revocations: RevocationView,
    now: float,
    clock: ClockState,
    freshness: ListFreshness,
) -> Verdict:
    # 1. bounds and decoding
    prefix, body = split_prefix(text)
    known.kind = prefix[:-1]
    try:
        message = decode_sign1(inflate(b45decode(body)))
        known.kid = message.kid(reject_mismatch=prefix == gp1.PREFIX)
    except CoseError as exc:
        raise CredentialError(Reason.BAD_COSE, str(exc)) from exc
    if known.kid is None:
        raise CredentialError(Reason.BAD_COSE, "no kid")
    if prefix == gp1.PREFIX and HEADER_KID not in message.protected:
        raise CredentialError(Reason.BAD_COSE, "a GP1 kid belongs in the protected header")
    payload = cbor_loads(message.payload, max_depth=PAYLOAD_CBOR_DEPTH)
    if prefix == gp1.PREFIX:
        health_pass = gp1.parse_claims(payload)
        known.iss, known.status, known.exp = health_pass.iss, health_pass.status.value, health_pass.exp
        known.rid = pass_rid(health_pass.iss, health_pass.cti)
        # 2. signature and trust
        _check_gp1_signature(message, known.kid, health_pass.iss, trust, now)
        iat: float = health_pass.iat
        rids: tuple[bytes, ...] = (known.rid, holder_rid(health_pass.iss, health_pass.hid))
    else:
        dcc = hc1.parse_claims(payload)
        known.iss, known.status, known.exp = dcc.iss, dcc.dcc_type.value, dcc.exp
        known.rid = hc1_signature_rid(dcc.iss, message.signature)
        _check_hc1_signature(message, known.kid, dcc.dcc_type, trust)
        iat = dcc.iat
        rids = (known.rid,)
    # 3. validity time
    if not clock.vouches_for(now):
        raise CredentialError(Reason.CLOCK_UNSYNCED)
    if now < iat:
        raise CredentialError(Reason.NOT_YET_VALID)
    if now >= known.exp:
        raise CredentialError(Reason.EXPIRED)
    # 4. revocation
    if any(rid in revocations for rid in rids):
        raise CredentialError(Reason.REVOKED)
    # 5. status, then the staleness rule that turns a would-be pass into a second look
    if known.status == gp1.PassStatus.RED:
        raise CredentialError(Reason.STATUS_RED)
    if known.status == gp1.PassStatus.YELLOW:
        raise CredentialError(Reason.STATUS_YELLOW)
    if freshness.stale:
        raise CredentialError(Reason.LISTS_STALE)
    return known.verdict(Reason.OK)


def _allowed_alg(message: Sign1, prefix: str) -> int:
    alg = message.alg
    if alg is None or alg not in ALLOWED_ALGS[prefix]:
        raise CredentialError(Reason.UNSUPPORTED_ALG, f"alg {alg} is not allowed for {prefix}")
    return alg


def _check_gp1_signature(message: Sign1, kid: bytes, iss: str, trust: TrustList, now: float) -> None:
    alg = _allowed_alg(message, gp1.PREFIX)
    entries = trust.issuers_for(kid)
    if not entries:
        raise CredentialError(Reason.UNKNOWN_KID)
    usable = [e for e in entries if e.alg == alg and e.public_key is not None]
    if not usable:
        detail = "alg differs from the trust list entry's"
        if any(e.alg == alg for e in entries):
            detail = "the trust list entry's key is of a kind this reader cannot load"
        raise CredentialError(Reason.UNSUPPORTED_ALG, detail)
    to_be_signed = message.to_be_signed()
    signers = [e for e in usable if e.public_key and verify(e.public_key, Alg(alg), to_be_signed, message.signature)]
    if not signers:
        raise CredentialError(Reason.BAD_SIGNATURE)
    if not any(e.iss == iss and e.valid_at(now) for e in signers):
        raise CredentialError(Reason.UNTRUSTED_ISSUER, "issuer or validity window does not match the trust list")


def _check_hc1_signature(message: Sign1, kid: bytes, dcc_type: DccType, trust: TrustList) -> None:
    alg = _allowed_alg(message, hc1.PREFIX)
    certificates = trust.dscs_for(kid)
    if not certificates:
        raise CredentialError(Reason.UNKNOWN_KID)
    usable = [c for c in certificates if c.alg == alg and c.public_key is not None]
    if not usable:
        raise CredentialError(Reason.UNSUPPORTED_ALG, "alg differs from the signing certificate's key")
    to_be_signed = message.to_be_signed()
    signers = [c for c in usable if c.verifies(Alg(alg), to_be_signed, message.signature)]
    if not signers:
        raise CredentialError(Reason.BAD_SIGNATURE)
    if not any(c.may_sign(dcc_type) for c in signers):
        raise CredentialError(Reason.UNTRUSTED_ISSUER, f"the signing certificate may not sign {dcc_type} certificates")
