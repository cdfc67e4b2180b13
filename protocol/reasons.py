"""The decisions a scan can end in and the machine reasons behind them (credentials spec, "Decision")."""

from __future__ import annotations

from enum import StrEnum


class Decision(StrEnum):
    """What the checkpoint does: let through, look twice, refuse, or refuse as not a genuine pass."""

    PASS = "pass"  # noqa: S105 - a decision, not a password
    CHECK = "check"
    DENY = "deny"
    INVALID = "invalid"


class Reason(StrEnum):
    """One machine reason per decision; the spec's table fixes which decision each belongs to."""

    OK = "ok"
    STATUS_YELLOW = "status_yellow"
    LISTS_STALE = "lists_stale"
    STATUS_RED = "status_red"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    CLOCK_UNSYNCED = "clock_unsynced"
    BAD_PREFIX = "bad_prefix"
    BAD_BASE45 = "bad_base45"
    BAD_ZLIB = "bad_zlib"
    TOO_LARGE = "too_large"
    BAD_COSE = "bad_cose"
    BAD_CBOR = "bad_cbor"
    UNKNOWN_KID = "unknown_kid"
    BAD_SIGNATURE = "bad_signature"
    UNTRUSTED_ISSUER = "untrusted_issuer"
    UNSUPPORTED_ALG = "unsupported_alg"

    @property
    def decision(self) -> Decision:
        """The decision this reason belongs to."""
        return DECISION_OF[self]


DECISION_OF: dict[Reason, Decision] = {
    Reason.OK: Decision.PASS,
    Reason.STATUS_YELLOW: Decision.CHECK,
    Reason.LISTS_STALE: Decision.CHECK,
    Reason.STATUS_RED: Decision.DENY,
    Reason.REVOKED: Decision.DENY,
    Reason.EXPIRED: Decision.DENY,
    Reason.NOT_YET_VALID: Decision.DENY,
    Reason.CLOCK_UNSYNCED: Decision.DENY,
    **dict.fromkeys(
        (
            Reason.BAD_PREFIX,
            Reason.BAD_BASE45,
            Reason.BAD_ZLIB,
            Reason.TOO_LARGE,
            Reason.BAD_COSE,
            Reason.BAD_CBOR,
            Reason.UNKNOWN_KID,
            Reason.BAD_SIGNATURE,
            Reason.UNTRUSTED_ISSUER,
            Reason.UNSUPPORTED_ALG,
        ),
        Decision.INVALID,
    ),
}


class CredentialError(Exception):
    """A credential (or a document) failed a check; ``reason`` says which, in the spec's words."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
