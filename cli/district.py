"""``gridpass district ...``: the district center's tools, so demos and tests make real signed data."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from cli.district_serve import hub_token_command, serve_command
from cli.errors import fail
from district.keyfiles import KeyFileError, keygen, read_private, read_public
from district.ledger import LedgerError, RevocationLedger
from district.passes import DEFAULT_TZ, issue, write_qr_png
from protocol.codec import b45decode, cbor_loads, inflate, split_prefix
from protocol.cose import decode_sign1
from protocol.documents import DocumentError
from protocol.gp1 import ID_BYTES, PassStatus, parse_claims
from protocol.keys import Alg, PrivateKey, PublicKey
from protocol.revocation import holder_rid, pass_rid
from protocol.topics import TopicError
from protocol.trustlist import TrustedIssuer, build_trust_list, parse_trust_list

app = typer.Typer(help="District center tools: keys, passes, trust lists, revocations.", no_args_is_help=True)

TWO_YEARS_S = 2 * 365 * 24 * 3600
ALGS = {"es256": Alg.ES256, "eddsa": Alg.EDDSA}


def _private(path: Path) -> PrivateKey:
    try:
        return read_private(path)
    except KeyFileError as exc:
        fail(str(exc))


def _public(path: Path) -> PublicKey:
    try:
        return read_public(path)
    except KeyFileError as exc:
        fail(str(exc))


def _hex_id(value: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        fail(f"{what} {value!r} is not hex", code=2)
    if len(raw) != ID_BYTES:
        fail(f"{what} must be {ID_BYTES} bytes ({2 * ID_BYTES} hex digits)", code=2)
    return raw


@app.command("keygen")
def keygen_command(
    name: Annotated[str, typer.Argument(help="Base name: writes NAME.key.pem (0600) and NAME.pub.pem.")],
    alg: Annotated[str, typer.Option(help="es256 (P-256) or eddsa (Ed25519).")] = "eddsa",
    out: Annotated[Path, typer.Option(help="Directory to write the key files in.")] = Path(),
) -> None:
    """Make a root or issuer key pair. The private key is never printed."""
    if alg.lower() not in ALGS:
        fail(f"--alg must be one of {', '.join(ALGS)}", code=2)
    try:
        private_path, public_path, kid = keygen(out, name, ALGS[alg.lower()])
    except KeyFileError as exc:
        fail(str(exc))
    print(json.dumps({"private": str(private_path), "public": str(public_path), "kid": kid.hex(), "alg": alg}))


@app.command("delegate")
def delegate_command(
    root: Annotated[Path, typer.Option(help="The district root's private key file.")],
    hub_key: Annotated[Path, typer.Option(help="The hub's config signing public key file (its NAME.pub.pem).")],
    hub: Annotated[str, typer.Option(help="The hub's name, e.g. SH-PD-hub-1 (shown to operators).")],
    out: Annotated[Path, typer.Option(help="Where to write the delegation (give it to the hub's operators).")],
    days: Annotated[int, typer.Option(min=1, max=3650, help="How long the delegation is valid.")] = 365,
) -> None:
    """Let a hub's key sign device configurations for this district's terminals, for a while."""
    from protocol.device_config import make_delegation  # noqa: PLC0415

    now = int(time.time())
    try:
        document = make_delegation(_private(root), hub, _public(hub_key), nbf=now - 300, exp=now + days * 86400)
        out.write_bytes(document)
    except (ValueError, OSError) as exc:
        fail(f"cannot write the delegation: {exc}")
    print(json.dumps({"hub": hub, "out": str(out), "nbf": now - 300, "exp": now + days * 86400}))


@app.command("issue")
def issue_command(
    key: Annotated[Path, typer.Option(help="The issuer's private key file.")],
    iss: Annotated[str, typer.Option(help="Issuing region, e.g. CN-ZJ-HZ.")],
    status: Annotated[PassStatus, typer.Option(help="Health status.")] = PassStatus.GREEN,
    issued_at: Annotated[int | None, typer.Option(help="iat, Unix seconds; default now.")] = None,
    expires: Annotated[int | None, typer.Option(help="exp, Unix seconds; default midnight after iat.")] = None,
    tz: Annotated[str, typer.Option(help="Time zone of the default midnight expiry.")] = DEFAULT_TZ,
    holder: Annotated[str | None, typer.Option(help="Holder pseudonym, 32 hex digits; default random.")] = None,
    name: Annotated[str | None, typer.Option(help="Masked display name, e.g. 张*三.")] = None,
    png: Annotated[Path | None, typer.Option(help="Also write the QR code as a PNG here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object instead of the bare QR text.")] = False,
) -> None:
    """Issue a GP1 pass: prints its QR text (and, with --json, the ids needed to revoke it)."""
    iat = int(time.time()) if issued_at is None else issued_at
    issued = issue(
        _private(key),
        iss=iss,
        status=status,
        iat=iat,
        exp=expires,
        tz=tz,
        hid=_hex_id(holder, "--holder") if holder else None,
        name=name,
    )
    if png is not None:
        write_qr_png(issued.qr_text, png)
    if not as_json:
        print(issued.qr_text)
        return
    hp = issued.health_pass
    print(
        json.dumps(
            {
                "qr": issued.qr_text,
                "iss": hp.iss,
                "status": hp.status.value,
                "iat": hp.iat,
                "exp": hp.exp,
                "cti": hp.cti.hex(),
                "hid": hp.hid.hex(),
                "pass_rid": issued.pass_rid.hex(),
                "holder_rid": issued.holder_rid.hex(),
            },
            ensure_ascii=False,
        )
    )


def _issuer_entry(spec: str, nbf: int, exp: int) -> TrustedIssuer:
    path, sep, iss = spec.partition("=")
    if not sep or not iss:
        fail(f"--issuer {spec!r}: write it as PUBLIC_KEY.pem=ISS, e.g. hz.pub.pem=CN-ZJ-HZ", code=2)
    try:
        return TrustedIssuer.for_key(_public(Path(path)), iss, nbf=nbf, exp=exp)
    except ValueError as exc:
        fail(f"--issuer {spec!r}: {exc}", code=2)


@app.command("trust-list")
def trust_list_command(
    root: Annotated[Path, typer.Option(help="The district root private key.")],
    out: Annotated[Path, typer.Option(help="Where to write the signed trust list.")],
    issuer: Annotated[
        list[str] | None, typer.Option(help="PUBLIC_KEY.pem=ISS for each GP1 issuer (repeat the option).")
    ] = None,
    dsc: Annotated[list[Path] | None, typer.Option(help="DER signing certificate for HC1 (repeat).")] = None,
    seq: Annotated[int | None, typer.Option(help="Version; default one more than the list at --out.")] = None,
    not_before: Annotated[int | None, typer.Option(help="Issuers trusted from (Unix s); default now.")] = None,
    expires: Annotated[int | None, typer.Option(help="Issuers trusted until (Unix s); default +2 years.")] = None,
) -> None:
    """Sign a trust list; its seq increases on every run unless given."""
    root_key = _private(root)
    now = int(time.time())
    if seq is None:
        seq = 1
        if out.exists():
            try:
                seq = parse_trust_list(out.read_bytes(), root_key.public_key()).seq + 1
            except DocumentError as exc:
                fail(f"{out} exists but is not a trust list of this root ({exc}): give --seq or another --out")
    nbf = now if not_before is None else not_before
    exp = now + TWO_YEARS_S if expires is None else expires
    entries = [_issuer_entry(spec, nbf, exp) for spec in issuer or []]
    certificates = []
    for path in dsc or []:
        try:
            certificates.append(path.read_bytes())
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror}")
    out.write_bytes(build_trust_list(root_key, seq=seq, ts=now, issuers=entries, dscs=certificates))
    print(json.dumps({"out": str(out), "seq": seq, "issuers": len(entries), "dsc": len(certificates)}))


def _rids_of_qr(text: str) -> tuple[bytes, bytes]:
    """Pass and holder rids of a GP1 QR text (the district reads its own pass; no signature check needed)."""

    prefix, body = split_prefix(text)
    if prefix != "GP1:":
        fail("--qr takes a GP1 pass", code=2)
    hp = parse_claims(cbor_loads(decode_sign1(inflate(b45decode(body))).payload))
    return pass_rid(hp.iss, hp.cti), holder_rid(hp.iss, hp.hid)


def _id_at(spec: str, what: str) -> tuple[bytes, str]:
    ident, sep, iss = spec.partition("@")
    if not sep or not iss:
        fail(f"{what} {spec!r}: write it as HEX@ISS, e.g. 00112233445566778899aabbccddeeff@CN-ZJ-HZ", code=2)
    return _hex_id(ident, what), iss


@app.command("revoke")
def revoke_command(
    root: Annotated[Path, typer.Option(help="The district root private key.")],
    state: Annotated[Path, typer.Option(help="The ledger directory that keeps each list's versions.")],
    list_id: Annotated[str, typer.Option("--list", help="List id, e.g. CN-SH-PD.")],
    out: Annotated[Path | None, typer.Option(help="Also copy the signed update here.")] = None,
    pass_id: Annotated[list[str] | None, typer.Option("--pass", help="Revoke one pass: CTI_HEX@ISS.")] = None,
    holder: Annotated[list[str] | None, typer.Option(help="Revoke all of a holder's passes: HID_HEX@ISS.")] = None,
    qr: Annotated[list[str] | None, typer.Option(help="Revoke the pass in this GP1 QR text.")] = None,
    qr_holder: Annotated[list[str] | None, typer.Option(help="Revoke the holder of this GP1 QR text.")] = None,
    unrevoke: Annotated[list[str] | None, typer.Option(help="Lift a revocation: RID_HEX (32 hex digits).")] = None,
    full: Annotated[bool, typer.Option("--full", help="Write a full snapshot instead of a delta.")] = False,
) -> None:
    """Issue the next version of a revocation list: a signed delta (or a full snapshot the first time)."""
    add: set[bytes] = set()
    for spec in pass_id or []:
        cti, iss = _id_at(spec, "--pass")
        add.add(pass_rid(iss, cti))
    for spec in holder or []:
        hid, iss = _id_at(spec, "--holder")
        add.add(holder_rid(iss, hid))
    for text in qr or []:
        add.add(_rids_of_qr(text)[0])
    for text in qr_holder or []:
        add.add(_rids_of_qr(text)[1])
    remove = {_hex_id(rid, "--unrevoke") for rid in unrevoke or []}
    try:
        ledger = RevocationLedger(state, list_id)
        published = ledger.publish(_private(root), ts=int(time.time()), add=add, remove=remove, full=full)
    except (TopicError, LedgerError) as exc:
        fail(str(exc))
    if out is not None:
        out.write_bytes(published.document)
    print(
        json.dumps(
            {
                "list": list_id,
                "seq": published.seq,
                "base": published.base,
                "added": published.added,
                "removed": published.removed,
                "entries": published.entries,
                "update": str(published.path),
            }
        )
    )


app.command("hub-token")(hub_token_command)
app.command("serve")(serve_command)
