"""HC1, the EU Digital COVID Certificate, read for interoperability (credentials spec, section 2).

Only what the decision needs is taken from the certificate: its type, its time claims and its issuing country.
The holder's name and birth date are read past, never returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.cwt import CLAIM_EXP, CLAIM_HCERT, CLAIM_IAT, CLAIM_ISS, claims_map, time_claim
from protocol.dsc import DccType
from protocol.reasons import CredentialError, Reason

PREFIX = "HC1:"
HCERT_DCC = 1
MAX_COUNTRY_CHARS = 64
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
    if not isinstance(iss, str) or len(iss) > MAX_COUNTRY_CHARS:
        raise CredentialError(Reason.BAD_CBOR, "iss is not a country code")
    iat = time_claim(claims, CLAIM_IAT, allow_float=True)
    exp = time_claim(claims, CLAIM_EXP, allow_float=True)
    hcert = claims.get(CLAIM_HCERT)
    if not isinstance(hcert, dict) or not isinstance(hcert.get(HCERT_DCC), dict):
        raise CredentialError(Reason.BAD_CBOR, "no EU DCC in claim -260")
    dcc: dict[Any, Any] = hcert[HCERT_DCC]
    version = dcc.get("ver")
    if not isinstance(version, str) or not version:
        raise CredentialError(Reason.BAD_CBOR, "DCC has no schema version")
    if not isinstance(dcc.get("nam"), dict) or not isinstance(dcc.get("dob"), str):
        raise CredentialError(Reason.BAD_CBOR, "DCC lacks the holder's name or birth date")
    present = [kind for key, kind in _TYPE_KEYS.items() if key in dcc]
    if len(present) != 1:
        raise CredentialError(Reason.BAD_CBOR, "a DCC holds exactly one of vaccination, test or recovery")
    entries = dcc[next(k for k, v in _TYPE_KEYS.items() if v is present[0])]
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        raise CredentialError(Reason.BAD_CBOR, "a DCC's v, t or r holds exactly one entry")
    return DccClaims(iss, iat, exp, present[0], version)
