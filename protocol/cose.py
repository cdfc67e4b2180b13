"""COSE_Sign1 (RFC 9052), the one envelope of every credential, document and device batch.

A thin layer over cbor2 and :mod:`protocol.keys`: decode the four-element array (tagged 18, untagged, or inside the
CWT tag 61 as some DCC issuers emit it), build the Sig_structure, sign and verify.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2

from protocol.codec import MAX_CBOR_DEPTH, cbor_dumps, cbor_loads
from protocol.keys import Alg, PrivateKey, alg_of_private_key, kid_of_public_key, sign
from protocol.reasons import CredentialError

COSE_SIGN1_TAG = 18
CWT_TAG = 61
HEADER_ALG = 1
HEADER_KID = 4
MAX_KID_BYTES = 64
MAX_SIGNATURE_BYTES = 1024  # RSA-8192 fits; anything larger is not a signature


class CoseError(ValueError):
    """The bytes are not a well-formed COSE_Sign1; ``field`` names what is wrong."""


@dataclass(frozen=True, slots=True)
class Sign1:
    """A decoded COSE_Sign1 message, before its signature is checked."""

    protected_bytes: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes
    signature: bytes
    tagged: bool = field(default=True)

    @property
    def alg(self) -> int | None:
        """The protected ``alg``: the only one a reader honours (an unprotected alg could be swapped)."""
        value = self.protected.get(HEADER_ALG)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def kid(self, *, reject_mismatch: bool) -> bytes | None:
        """The key id: protected wins; with ``reject_mismatch``, a different unprotected kid is an error."""
        protected = self.protected.get(HEADER_KID)
        unprotected = self.unprotected.get(HEADER_KID)
        if protected is not None and not reject_mismatch:
            unprotected = None  # protected wins; what the unprotected header says is not read at all
        for value in (protected, unprotected):
            if value is not None and (not isinstance(value, bytes) or not 0 < len(value) <= MAX_KID_BYTES):
                raise CoseError("kid is not a byte string of a sensible length")
        if protected is not None:
            if reject_mismatch and unprotected is not None and unprotected != protected:
                raise CoseError("protected and unprotected kid differ")
            return bytes(protected)
        return bytes(unprotected) if unprotected is not None else None

    def to_be_signed(self) -> bytes:
        """The Sig_structure for Signature1 with empty external AAD (RFC 9052 section 4.4)."""
        return sig_structure(self.protected_bytes, self.payload)


def sig_structure(protected_bytes: bytes, payload: bytes) -> bytes:
    """``["Signature1", protected, external_aad = h'', payload]`` as CBOR."""
    return cbor2.dumps(["Signature1", protected_bytes, b"", payload])


def decode_sign1(data: bytes, *, max_depth: int = MAX_CBOR_DEPTH) -> Sign1:
    """Parse a COSE_Sign1 structure; raises :class:`CoseError` (callers map it to ``bad_cose``)."""
    try:
        item = cbor_loads(data, max_depth=max_depth)
    except CredentialError as exc:
        raise CoseError("not CBOR") from exc
    tagged = False
    if isinstance(item, cbor2.CBORTag) and item.tag == CWT_TAG:
        item = item.value
    if isinstance(item, cbor2.CBORTag):
        if item.tag != COSE_SIGN1_TAG:
            raise CoseError(f"CBOR tag {item.tag} is not COSE_Sign1 (18)")
        item, tagged = item.value, True
    # cbor2 hands a tag's content back immutable: a tuple for the array, a frozendict for the map.
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise CoseError("COSE_Sign1 is not an array of four")
    protected_bytes, unprotected, payload, signature = item
    if not isinstance(protected_bytes, bytes):
        raise CoseError("protected header is not a byte string")
    if not isinstance(unprotected, Mapping):
        raise CoseError("unprotected header is not a map")
    if not isinstance(payload, bytes):
        raise CoseError("payload is not a byte string (detached payloads are not accepted)")
    if not isinstance(signature, bytes) or not 0 < len(signature) <= MAX_SIGNATURE_BYTES:
        raise CoseError("signature is not a byte string of a sensible length")
    protected: Any = {}
    if protected_bytes:
        try:
            protected = cbor_loads(protected_bytes, max_depth=4)
        except CredentialError as exc:
            raise CoseError("protected header is not CBOR") from exc
        if not isinstance(protected, dict):
            raise CoseError("protected header is not a map")
    _check_labels(protected, unprotected)
    return Sign1(bytes(protected_bytes), protected, dict(unprotected), payload, signature, tagged)


def _check_labels(*headers: Mapping[Any, Any]) -> None:
    """RFC 9052 header labels are integers or text; ``true`` or ``1.0`` would hash like ``1`` and pass for ``alg``."""
    if not all(type(label) is int or type(label) is str for header in headers for label in header):
        raise CoseError("header labels must be integers or text")


def encode_sign1(
    payload: bytes,
    key: PrivateKey,
    *,
    kid: bytes | None = None,
    tagged: bool = True,
    unprotected: dict[Any, Any] | None = None,
) -> bytes:
    """Sign ``payload`` as a COSE_Sign1 with alg and kid (default: the key's SPKI kid) in the protected header."""
    alg: Alg = alg_of_private_key(key)
    if kid is None:
        kid = kid_of_public_key(key.public_key())
    if not 0 < len(kid) <= MAX_KID_BYTES:
        raise CoseError("kid must be 1 to 64 bytes")
    protected_bytes = cbor_dumps({HEADER_ALG: int(alg), HEADER_KID: kid})
    signature = sign(key, sig_structure(protected_bytes, payload))
    message = [protected_bytes, unprotected or {}, payload, signature]
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, message) if tagged else message)
