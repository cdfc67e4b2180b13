"""HC1, the EU Digital COVID Certificate, read for interoperability (credentials spec, section 2).

Only what the decision needs is taken from the certificate: its type, its time claims and its issuing country.
The holder's name and birth date are read past, never returned.

The checks are structural, not the EU JSON schema: the DCC must be a map with ``ver``, ``nam``, ``dob`` and exactly
one of ``v``, ``t`` or ``r`` holding a non-empty array of entries. Issuers in the field are more varied than the
schema's latest version, and a checkpoint must read what they emit: a group key mapped to null counts as absent
(early Bulgarian certificates carry ``"r": null, "t": null`` beside ``v``), a group may hold more than one entry
(schemas before 1.3.0 allowed it; Romanian and Slovak certificates use it), and ``iss`` may be a long issuer name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from protocol.cwt import CLAIM_EXP, CLAIM_HCERT, CLAIM_IAT, CLAIM_ISS, claims_map, time_claim
from protocol.dsc import DccType
from protocol.reasons import CredentialError, Reason

PREFIX = "HC1:"
HCERT_DCC = 1
MAX_ISS_CHARS = 256
MAX_ENTRIES = 16
_TYPE_KEYS = {"v": DccType.VACCINATION, "t": DccType.TEST, "r": DccType.RECOVERY}


@dataclass(frozen=True, slots=True)
class DccClaims:
    """What a checkpoint keeps of an HC1: issuing country, validity and the certificate's type."""

    iss: str
    iat: float
    exp: float
    dcc_type: DccType
    schema_version: str


def parse_claims(payload: object) -> DccClaims:
    """The CWT claims of an HC1; a missing or malformed part is ``bad_cbor``."""
    claims = claims_map(payload)
    iss = claims.get(CLAIM_ISS, "")
    if not isinstance(iss, str) or len(iss) > MAX_ISS_CHARS:
        raise CredentialError(Reason.BAD_CBOR, "iss is not an issuer text")
    iat = time_claim(claims, CLAIM_IAT, allow_float=True)
    exp = time_claim(claims, CLAIM_EXP, allow_float=True)
    hcert = claims.get(CLAIM_HCERT)
    if not isinstance(hcert, dict) or not isinstance(hcert.get(HCERT_DCC), dict):
        raise CredentialError(Reason.BAD_CBOR, "no EU DCC in claim -260")
    dcc: dict[Any, Any] = hcert[HCERT_DCC]
    version = dcc.get("ver")
    if not isinstance(version, str) or not version:
        raise CredentialError(Reason.BAD_CBOR, "DCC has no schema version")
    if not isinstance(dcc.get("nam"), dict) or not isinstance(dcc.get("dob"), str | date):
        raise CredentialError(Reason.BAD_CBOR, "DCC lacks the holder's name or birth date")
    return DccClaims(iss, iat, exp, dcc_type(dcc), version)


def dcc_type(dcc: dict[Any, Any]) -> DccType:
    """The one group (vaccination, test or recovery) a DCC holds; anything else is ``bad_cbor``."""
    present = [(key, kind) for key, kind in _TYPE_KEYS.items() if dcc.get(key) is not None]
    if len(present) != 1:
        raise CredentialError(Reason.BAD_CBOR, "a DCC holds exactly one of vaccination, test or recovery")
    key, kind = present[0]
    entries = dcc[key]
    if (
        not isinstance(entries, list)
        or not 0 < len(entries) <= MAX_ENTRIES
        or not all(isinstance(entry, dict) for entry in entries)
    ):
        raise CredentialError(Reason.BAD_CBOR, f"a DCC's {key} is not a non-empty array of entries")
    return kind
