"""The trust list held on disk: applied only when it verifies and is newer, replaced atomically, re-checked on start."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.lists import trust_store
from device.lists.errors import StoreCorruptError, StoreError
from device.lists.trust_store import TRUST_FILE, TrustStore
from protocol.documents import DocumentError, DocumentProblem
from protocol.keys import Alg, PrivateKey, generate_private_key
from protocol.trustlist import TrustedIssuer, build_trust_list

ROOT = generate_private_key(Alg.EDDSA)
OTHER_ROOT = generate_private_key(Alg.EDDSA)
ISSUER = generate_private_key(Alg.ES256)


def trust_document(seq: int, *, root: PrivateKey = ROOT, iss: str = "CN-ZJ-HZ") -> bytes:
    entry = TrustedIssuer.for_key(ISSUER.public_key(), iss, nbf=0, exp=2**40)
    return build_trust_list(root, seq=seq, ts=1_000 + seq, issuers=[entry])


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def test_nothing_held_trusts_no_key(tmp_path: Path) -> None:
    store = TrustStore.open(tmp_path / "trust", ROOT.public_key())
    assert store.seq == 0 and not store.current.issuers


def test_a_newer_list_is_applied_and_kept(tmp_path: Path) -> None:
    store = TrustStore.open(tmp_path, ROOT.public_key())
    held = store.apply(trust_document(3))
    assert held.seq == 3 and held.issuers_for(next(iter(held.issuers)))[0].iss == "CN-ZJ-HZ"
    reopened = TrustStore.open(tmp_path, ROOT.public_key())
    assert (reopened.seq, reopened.current.ts) == (3, 1_003)
    assert [p.name for p in tmp_path.iterdir()] == [TRUST_FILE]  # no temporary file left behind


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (trust_document(2), DocumentProblem.NOT_NEWER),
        (trust_document(3), DocumentProblem.NOT_NEWER),
        (trust_document(9, root=OTHER_ROOT), DocumentProblem.WRONG_KEY),
        (flip_last_byte(trust_document(9)), DocumentProblem.BAD_SIGNATURE),
        (b"not a document", DocumentProblem.BAD_COSE),
    ],
    ids=["older", "same", "other-root", "bad-signature", "garbage"],
)
def test_a_refused_list_leaves_the_held_one(tmp_path: Path, document: bytes, problem: DocumentProblem) -> None:
    store = TrustStore.open(tmp_path, ROOT.public_key())
    store.apply(trust_document(3))
    before = (tmp_path / TRUST_FILE).read_bytes()
    with pytest.raises(DocumentError) as caught:
        store.apply(document)
    assert caught.value.problem is problem
    assert store.seq == 3 and (tmp_path / TRUST_FILE).read_bytes() == before


def test_a_held_list_that_no_longer_verifies_is_an_error(tmp_path: Path) -> None:
    TrustStore.open(tmp_path, ROOT.public_key()).apply(trust_document(3))
    with pytest.raises(StoreCorruptError, match="check the root key"):
        TrustStore.open(tmp_path, OTHER_ROOT.public_key())
    data = (tmp_path / TRUST_FILE).read_bytes()
    (tmp_path / TRUST_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreCorruptError, match="apply a current trust list"):
        TrustStore.open(tmp_path, ROOT.public_key())


def test_a_failed_write_keeps_the_held_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TrustStore.open(tmp_path, ROOT.public_key())
    store.apply(trust_document(3))

    def full_card(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trust_store, "write_atomic", full_card)
    with pytest.raises(StoreError, match="kept the old list"):
        store.apply(trust_document(4))
    assert store.seq == 3
