"""The lists a terminal holds on disk: revocation lists (:mod:`.revocation_store`) and the trust list
(:mod:`.trust_store`), both applied under the holder rules of :mod:`protocol` and replaced atomically."""

REVOCATIONS_SUBDIR = "revocations"
"""Where a terminal's store directory keeps its revocation list (:class:`~.revocation_store.RevocationStore`)."""
TRUST_SUBDIR = "trust"
"""Where it keeps its trust list (:class:`~.trust_store.TrustStore`)."""
