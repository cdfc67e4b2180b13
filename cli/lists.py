"""``gridpass lists ...``: a terminal's on-disk lists from the command line: load signed updates, check rids.

A store directory holds one revocation list in ``revocations/`` (its list id is fixed by the first update applied,
or by ``--list``) and the trust list in ``trust/``: the layout the terminal itself uses.
"""

from __future__ import annotations

import binascii
import io
import json
import sys
from pathlib import Path
from typing import Annotated, cast

import numpy as np
import typer

from cli.errors import EXIT_INPUT, EXIT_USAGE, fail, warn
from device.lists import REVOCATIONS_SUBDIR, TRUST_SUBDIR
from device.lists.errors import StoreError
from device.lists.files import read_bounded
from device.lists.revocation_store import RevocationStore, RevocationVersion
from device.lists.trust_store import TrustStore
from district.keyfiles import KeyFileError, read_public
from protocol.documents import DocumentError, DocumentProblem
from protocol.keys import PublicKey
from protocol.revocation import MAX_REVOCATION_DOCUMENT_BYTES, RID_BYTES, RevocationUpdate, parse_revocation_update
from protocol.trustlist import TrustList, parse_trust_list

app = typer.Typer(help="A terminal's on-disk lists: apply signed updates, check revocation ids.", no_args_is_help=True)

CHECK_READ_BYTES = 1 << 20
"""``check`` reads stdin in blocks of this size and writes one block of answers per block read."""
SHOWN_BAD_LINES = 5
"""``check`` names this many malformed lines on stderr, then only counts them."""

_ADVICE = {
    DocumentProblem.TOO_LARGE: "it is not a list document of this district: fetch it again",
    DocumentProblem.BAD_COSE: "it is not a signed list document (damaged or another file): fetch it again",
    DocumentProblem.BAD_SCHEMA: "it is not a gridpass list document: fetch it again",
    DocumentProblem.WRONG_KEY: "check that --root is this district's root key",
    DocumentProblem.BAD_SIGNATURE: "check --root, or fetch the document again (it may be damaged)",
    DocumentProblem.WRONG_LIST: "use another --store for that list",
    DocumentProblem.NOT_NEWER: "the store already holds that version or a newer one; nothing to do",
    DocumentProblem.GAP: "apply the missing updates first, or a full snapshot",
}


def _root(path: Path) -> PublicKey:
    try:
        return read_public(path)
    except KeyFileError as exc:
        fail(str(exc))


def _parse(data: bytes, root: PublicKey) -> RevocationUpdate | TrustList:
    """A revocation update or, failing that for its shape, a trust list; both checked under the root key."""
    try:
        return parse_revocation_update(data, root)
    except DocumentError as exc:
        if exc.problem is not DocumentProblem.BAD_SCHEMA:
            raise
        try:
            return parse_trust_list(data, root)
        except DocumentError as trust_exc:
            if trust_exc.problem is not DocumentProblem.BAD_SCHEMA:
                raise
            raise DocumentError(
                DocumentProblem.BAD_SCHEMA,
                f"neither a revocation update ({exc.detail}) nor a trust list ({trust_exc.detail})",
            ) from trust_exc


class _Lists:
    """The two stores of one directory, the revocation one opened once its list id is known."""

    def __init__(self, directory: Path, root: PublicKey, list_id: str | None) -> None:
        self.revocation_dir = directory / REVOCATIONS_SUBDIR
        try:
            self.trust = TrustStore.open(directory / TRUST_SUBDIR, root)
            held = RevocationStore.held_list_id(self.revocation_dir)
        except StoreError as exc:
            fail(str(exc))
        if list_id is not None and held is not None and list_id != held:
            fail(f"{self.revocation_dir} holds list {held}, not {list_id}: use another --store", EXIT_USAGE)
        self.revocations = self._open(held or list_id)

    def _open(self, list_id: str | None) -> RevocationStore | None:
        if list_id is None:
            return None
        try:
            return RevocationStore.open(self.revocation_dir, list_id, create=True)
        except StoreError as exc:
            fail(str(exc))

    def apply(self, document: RevocationUpdate | TrustList, data: bytes) -> str:
        """Apply one parsed document; returns what is held now, for the log line."""
        if isinstance(document, TrustList):
            self.trust.apply(data)
            return f"trust list {self.trust.seq}"
        if self.revocations is None:
            self.revocations = self._open(document.list_id)
        if self.revocations is None:  # pragma: no cover - _open returns a store for a list id or exits
            fail("no revocation store")
        self.revocations.apply(document)
        return f"list {self.revocations.list_id} version {self.revocations.seq}"

    def held(self) -> dict[str, object]:
        held = self.revocations
        return {
            "list": held.list_id if held is not None else None,
            "seq": held.seq if held is not None else 0,
            "entries": len(held) if held is not None else 0,
            "trust_seq": self.trust.seq,
        }


@app.command("apply")
def apply_command(
    store: Annotated[Path, typer.Option(help="The terminal's list directory (revocations/ and trust/ inside).")],
    root: Annotated[Path, typer.Option(help="The district root public key (PEM) that signs the lists.")],
    documents: Annotated[
        list[Path], typer.Argument(help="Signed revocation updates and trust lists (COSE), applied in this order.")
    ],
    list_id: Annotated[
        str | None, typer.Option("--list", help="The revocation list the store holds; default: the first update's.")
    ] = None,
) -> None:
    """Apply signed lists in order under the holder rules and print the versions held as one JSON line.

    A document that cannot be applied (gap, other list, bad signature, not newer) is skipped with one line on
    stderr saying why and what to do. Exit 3 when a file could not be read (the others are still applied).
    """
    root_key = _root(root)
    lists = _Lists(store, root_key, list_id)
    unreadable = 0
    for path in documents:
        try:
            data = read_bounded(path, MAX_REVOCATION_DOCUMENT_BYTES)
        except (OSError, ValueError) as exc:
            warn(f"{path}: skipped, cannot read it ({getattr(exc, 'strerror', None) or exc})")
            unreadable += 1
            continue
        try:
            lists.apply(_parse(data, root_key), data)
        except DocumentError as exc:
            warn(f"{path}: skipped ({exc.problem.value}: {exc.detail}); {_ADVICE[exc.problem]}")
        except StoreError as exc:
            print(json.dumps(lists.held()))
            fail(str(exc))
    print(json.dumps(lists.held()))
    if unreadable:
        fail(f"{unreadable} of {len(documents)} files could not be read", EXIT_INPUT)


def _unhex(text: bytes) -> bytes | None:
    try:
        return binascii.unhexlify(text)
    except (ValueError, binascii.Error):
        return None


def _answers(version: RevocationVersion, lines: list[bytes], first_line: int, bad: list[int]) -> bytes:
    """``1\\n``/``0\\n`` for each well-formed line (malformed ones are noted in ``bad`` and get no answer)."""
    rids: list[bytes] = []
    for offset, line in enumerate(lines):
        text = line.strip()
        rid = _unhex(text) if len(text) == 2 * RID_BYTES else None
        if rid is None:
            bad.append(first_line + offset)
        else:
            rids.append(rid)
    found = version.contains_many(b"".join(rids))
    out = np.full(2 * len(found), ord("\n"), dtype=np.uint8)
    out[0::2] = ord("0") + found.astype(np.uint8)
    return out.tobytes()


@app.command("check")
def check_command(
    store: Annotated[Path, typer.Option(help="The terminal's list directory (revocations/ and trust/ inside).")],
    list_id: Annotated[
        str | None, typer.Option("--list", help="Refuse to answer unless the store holds this list.")
    ] = None,
) -> None:
    """Read revocation ids on stdin (32 hex digits a line); print 1 (revoked) or 0 for each, all from one version.

    A line that is not 32 hex digits gets no answer; they are counted, and the command then exits 3.
    """
    directory = store / REVOCATIONS_SUBDIR
    try:
        held = RevocationStore.held_list_id(directory)
        if held is None:
            fail(f"no revocation list is held in {directory}: apply a full snapshot first (gridpass lists apply)")
        if list_id is not None and list_id != held:
            fail(f"{directory} holds list {held}, not {list_id}", EXIT_USAGE)
        revocations = RevocationStore.open(directory, held)
    except StoreError as exc:
        fail(str(exc))
    version = revocations.view()
    source, sink = cast(io.BufferedIOBase, sys.stdin.buffer), sys.stdout.buffer
    bad: list[int] = []
    pending, line_no = b"", 1
    while block := source.read1(CHECK_READ_BYTES):
        lines = (pending + block).split(b"\n")
        pending = lines.pop()
        sink.write(_answers(version, lines, line_no, bad))
        line_no += len(lines)
    if pending:
        sink.write(_answers(version, [pending], line_no, bad))
    sink.flush()
    revocations.close()
    for number in bad[:SHOWN_BAD_LINES]:
        warn(f"line {number} is not 32 hex digits: no answer printed for it")
    if bad:
        fail(
            f"{len(bad)} line(s) were not 32 hex digits and have no answer; the output does not line up with the input"
        )
