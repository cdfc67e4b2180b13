"""Trust lists and revocation updates received from the district, kept exactly as signed.

The caller verifies a document under the district root key before storing it; this module keeps the bytes with
what the hub needs to choose among them: (kind, list id, seq) is unique, and a second, different document for the
same triple is a conflict (the district never signs two versions under one seq).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.storage.engine import Target, dialect_insert, reading, writing
from hub.storage.errors import InvalidValueError, ListConflictError
from hub.storage.models import LIST_ID_LEN, ListDocument, check_int
from protocol.revocation import RevocationUpdate

TRUST_LIST_ID = "trust"
"""The list id the (single) trust list is stored under."""


class ListKind(StrEnum):
    """What a list document is."""

    TRUST = "trust"
    REVOCATION = "revocation"


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A signed list document and where it sits in its list's history."""

    kind: ListKind
    list_id: str
    seq: int
    base: int
    """0: a snapshot (every trust list is one); else the version a delta applies to."""
    ts: int
    received_at: float
    document: bytes


_COLUMNS = (
    ListDocument.kind,
    ListDocument.list_id,
    ListDocument.seq,
    ListDocument.base,
    ListDocument.ts,
    ListDocument.received_at,
    ListDocument.document,
)


def store_trust_list(target: Target, document: bytes, *, seq: int, ts: int, now: float) -> bool:
    """Keep a verified trust list; False when this very document was kept before."""
    return _store(target, ListKind.TRUST, TRUST_LIST_ID, document, seq=seq, base=0, ts=ts, now=now)


def store_revocation_update(target: Target, document: bytes, update: RevocationUpdate, *, now: float) -> bool:
    """Keep a verified revocation snapshot or delta (``update`` is ``document`` parsed); False when kept before."""
    return _store(
        target,
        ListKind.REVOCATION,
        update.list_id,
        document,
        seq=update.seq,
        base=update.base,
        ts=update.ts,
        now=now,
    )


def _store(
    target: Target, kind: ListKind, list_id: str, document: bytes, *, seq: int, base: int, ts: int, now: float
) -> bool:
    if not 0 < len(list_id) <= LIST_ID_LEN:
        raise InvalidValueError(f"a list id is 1 to {LIST_ID_LEN} characters")
    check_int("seq", seq, low=1)
    check_int("base", base)
    check_int("ts", ts)
    if base >= seq:
        raise InvalidValueError("a list document's seq is higher than its base")
    sha = hashlib.sha256(document).hexdigest()
    with writing(target) as conn:
        inserted = conn.execute(
            dialect_insert(conn, ListDocument)
            .values(
                kind=kind.value,
                list_id=list_id,
                seq=seq,
                base=base,
                ts=ts,
                sha256=sha,
                received_at=now,
                document=document,
            )
            .on_conflict_do_nothing()
            .returning(ListDocument.id)
        ).scalar_one_or_none()
        if inserted is not None:
            return True
        held = conn.execute(
            sa.select(ListDocument.sha256).where(
                ListDocument.kind == kind.value, ListDocument.list_id == list_id, ListDocument.seq == seq
            )
        ).scalar_one()
    if held != sha:
        raise ListConflictError(f"another {kind.value} document {list_id}/{seq} is stored: the district signed two")
    return False


def _one(conn: Connection, query: sa.Select[str, str, int, int, int, float, bytes]) -> StoredDocument | None:
    row = conn.execute(query.limit(1)).one_or_none()
    return None if row is None else _document(row)


def _document(row: sa.Row[str, str, int, int, int, float, bytes]) -> StoredDocument:
    return StoredDocument(ListKind(row[0]), row[1], int(row[2]), int(row[3]), int(row[4]), row[5], bytes(row[6]))


def _of(kind: ListKind, list_id: str) -> sa.Select[str, str, int, int, int, float, bytes]:
    return sa.select(*_COLUMNS).where(ListDocument.kind == kind.value, ListDocument.list_id == list_id)


def current_trust_list(target: Target) -> StoredDocument | None:
    """The trust list with the highest seq."""
    with reading(target) as conn:
        return _one(conn, _of(ListKind.TRUST, TRUST_LIST_ID).order_by(ListDocument.seq.desc()))


def current_revocation(target: Target, list_id: str) -> StoredDocument | None:
    """The newest update (snapshot or delta) of a revocation list: the version devices should reach."""
    with reading(target) as conn:
        return _one(conn, _of(ListKind.REVOCATION, list_id).order_by(ListDocument.seq.desc()))


def latest_snapshot(target: Target, list_id: str) -> StoredDocument | None:
    """The newest full snapshot of a revocation list."""
    with reading(target) as conn:
        return _one(
            conn, _of(ListKind.REVOCATION, list_id).where(ListDocument.base == 0).order_by(ListDocument.seq.desc())
        )


def revocation_updates_since(target: Target, list_id: str, seq: int) -> list[StoredDocument] | None:
    """The deltas that take a holder of version ``seq`` to the current version, in the order to apply them.

    ``[]`` when ``seq`` is current (or newer); None when no chain of deltas leads from ``seq`` to the current
    version (a snapshot lies in between, a delta is missing, or the holder has nothing): the holder then needs
    ``latest_snapshot`` and the deltas since it.
    """
    with reading(target) as conn:
        links = {
            int(row[0]): int(row[1])
            for row in conn.execute(
                sa.select(ListDocument.seq, ListDocument.base).where(
                    ListDocument.kind == ListKind.REVOCATION.value,
                    ListDocument.list_id == list_id,
                    ListDocument.seq > seq,
                )
            )
        }
        if not links:
            return []
        chain = [max(links)]
        while (base := links[chain[-1]]) != seq or base == 0:
            if base == 0 or base not in links:  # a snapshot on the way, or a delta never received
                return None
            chain.append(base)
        rows = conn.execute(
            _of(ListKind.REVOCATION, list_id).where(ListDocument.seq.in_(chain)).order_by(ListDocument.seq)
        ).all()
    return [_document(row) for row in rows]


def revocation_list_ids(target: Target) -> list[str]:
    """Every revocation list the hub holds a document of, sorted."""
    with reading(target) as conn:
        return list(
            conn.execute(
                sa.select(ListDocument.list_id)
                .where(ListDocument.kind == ListKind.REVOCATION.value)
                .distinct()
                .order_by(ListDocument.list_id)
            ).scalars()
        )
