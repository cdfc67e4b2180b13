"""How fast a checkpoint decides, next to what the signature check alone costs.

    python -m tests.bench.bench_verify [--seconds S] [--rids N]

For GP1 ES256, GP1 EdDSA and HC1 ES256 it measures full decisions per second (``protocol.decision.decide``, with a
revocation list of N entries held) and bare ``cryptography`` verifications per second of the same signature over the
same bytes with the same key, interleaved batch by batch so that a noisy machine slows both alike. The ratio is the
share of a decision's time the signature check takes; the goal is at least 0.5x. A second table breaks one decision
into its stages. Nothing here asserts on time: it reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cryptography
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.table import Table

from protocol import gp1, hc1
from protocol.codec import b45decode, b45encode, cbor_dumps, cbor_loads, deflate, inflate, split_prefix
from protocol.cose import decode_sign1, encode_sign1
from protocol.decision import PAYLOAD_CBOR_DEPTH, decide
from protocol.documents import seal
from protocol.keys import Alg, PrivateKey, kid_of_certificate, verify
from protocol.reasons import Reason
from protocol.revocation import HeldLists, hc1_signature_rid, holder_rid, parse_revocation_update, pass_rid
from protocol.trustlist import TrustedIssuer, TrustList, build_trust_list, parse_trust_list

DESCRIPTION = "Decisions per second next to bare signature verifications, per credential kind."
NOW = 1_750_000_000
GOAL_RATIO = 0.5
DEFAULT_SECONDS = 3.0
DEFAULT_RIDS = 1_000_000
BATCH_S = 0.02
"""Each timed batch runs about this long: long enough to dwarf the timer, short enough to interleave finely."""
STAGES = ("base45", "inflate", "COSE decode", "claims", "verify", "revocation lookup")
BACK_TO_BACK = "all stages back to back"
DECISION = "decision"


@dataclass(frozen=True)
class Case:
    """One credential kind: its text, what the reader holds, and the bare verification it is compared with."""

    name: str
    text: str
    trust: TrustList
    revocations: HeldLists
    bare_verify: Callable[[], None]
    stages: dict[str, Callable[[], object]]

    def decide_once(self) -> None:
        decide(self.text, trust=self.trust, revocations=self.revocations, now=NOW)


@dataclass(frozen=True)
class Row:
    """Throughput of one case."""

    name: str
    decisions_per_s: float
    verifies_per_s: float

    @property
    def ratio(self) -> float:
        return self.decisions_per_s / self.verifies_per_s


@dataclass(frozen=True)
class StageTime:
    """Mean cost of one stage of one decision."""

    case: str
    stage: str
    us: float


@dataclass(frozen=True)
class Report:
    rows: list[Row]
    stages: list[StageTime]
    revocation_entries: int


def _revocations(root: PrivateKey, entries: int) -> HeldLists:
    """A snapshot of ``entries`` random rids, signed and parsed by the real code (none matches a bench credential)."""
    words = np.frombuffer(np.random.default_rng(7).bytes(16 * entries), dtype=">u8").reshape(-1, 2)
    rids = words[np.lexsort((words[:, 1], words[:, 0]))].tobytes()
    body = {"v": 1, "list": "CN-ZJ-HZ-R", "seq": 1, "base": 0, "ts": NOW, "add": rids, "del": b""}
    return HeldLists().apply(parse_revocation_update(seal(root, body), root.public_key()))


def _dsc(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A self-signed P-256 document signer certificate."""
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"), x509.NameAttribute(NameOID.COMMON_NAME, "DSC")])
    start = dt.datetime.fromtimestamp(NOW - 86_400 * 30, tz=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=730))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def _hc1_text(key: ec.EllipticCurvePrivateKey, kid: bytes) -> str:
    """An HC1 vaccination certificate in the EU layout, signed with ``protocol.cose``."""
    dcc = {
        "ver": "1.3.0",
        "nam": {"fn": "Mustermann", "fnt": "MUSTERMANN", "gn": "Erika", "gnt": "ERIKA"},
        "dob": "1964-08-12",
        "v": [
            {
                "tg": "840539006",
                "vp": "1119349007",
                "mp": "EU/1/20/1528",
                "ma": "ORG-100030215",
                "dn": 2,
                "sd": 2,
                "dt": "2021-06-11",
                "co": "DE",
                "is": "Robert Koch-Institut",
                "ci": "URN:UVCI:01DE/IZ12345A/5CWLU12RNOB9RXSEOP6FG8#W",
            }
        ],
    }
    claims = {1: "DE", 4: NOW + 86_400 * 300, 6: NOW - 86_400, -260: {1: dcc}}
    return hc1.PREFIX + b45encode(deflate(encode_sign1(cbor_dumps(claims), key, kid=kid)))


def _bare(public_key: object, alg: Alg, text: str) -> Callable[[], None]:
    """One ``cryptography`` verification of ``text``'s signature, everything else prepared beforehand."""
    message = decode_sign1(inflate(b45decode(split_prefix(text)[1])))
    data, signature = message.to_be_signed(), message.signature
    if alg is Alg.EDDSA:
        assert isinstance(public_key, ed25519.Ed25519PublicKey)
        ed_key = public_key
        return lambda: ed_key.verify(signature, data)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    ec_key, ecdsa = public_key, ec.ECDSA(hashes.SHA256())
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    return lambda: ec_key.verify(der, data, ecdsa)


def _stages(text: str, public_key: object, alg: Alg, revocations: HeldLists) -> dict[str, Callable[[], object]]:
    """Each stage of a decision, alone, with its input prepared by the stages before it."""
    prefix, body = split_prefix(text)
    compressed = b45decode(body)
    cose = inflate(compressed)
    message = decode_sign1(cose)
    payload = cbor_loads(message.payload, max_depth=PAYLOAD_CBOR_DEPTH)
    parse = gp1.parse_claims if prefix == gp1.PREFIX else hc1.parse_claims
    assert isinstance(public_key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    key = public_key

    idents: tuple[tuple[Callable[[str, bytes], bytes], bytes], ...]
    if prefix == gp1.PREFIX:
        health_pass = gp1.parse_claims(payload)
        iss, idents = health_pass.iss, ((pass_rid, health_pass.cti), (holder_rid, health_pass.hid))
    else:
        iss, idents = hc1.parse_claims(payload).iss, ((hc1_signature_rid, message.signature),)

    def lookup() -> bool:
        return any(rid_of(iss, ident) in revocations for rid_of, ident in idents)

    return {
        "base45": lambda: b45decode(split_prefix(text)[1]),
        "inflate": lambda: inflate(compressed),
        "COSE decode": lambda: decode_sign1(cose).kid(reject_mismatch=prefix == gp1.PREFIX),
        "claims": lambda: parse(cbor_loads(message.payload, max_depth=PAYLOAD_CBOR_DEPTH)),
        "verify": lambda: verify(key, alg, message.to_be_signed(), message.signature),
        "revocation lookup": lookup,
    }


def build_cases(rid_entries: int) -> list[Case]:
    """The three credential kinds, with keys, a signed trust list and a revocation list of ``rid_entries``."""
    root = ed25519.Ed25519PrivateKey.generate()
    revocations = _revocations(root, rid_entries)
    es256, eddsa = ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()
    dsc_key = ec.generate_private_key(ec.SECP256R1())
    dsc = _dsc(dsc_key)
    entries = [TrustedIssuer.for_key(k.public_key(), "CN-ZJ-HZ", nbf=0, exp=2**40) for k in (es256, eddsa)]
    trust = parse_trust_list(build_trust_list(root, seq=1, ts=NOW, issuers=entries, dscs=[dsc]), root.public_key())
    health_pass = gp1.HealthPass(
        "CN-ZJ-HZ", NOW - 3600, NOW + 3600, os.urandom(16), gp1.PassStatus.GREEN, os.urandom(16), "张*三", NOW - 86_400
    )
    cases = []
    for name, key, alg, text in (
        ("GP1 ES256", es256, Alg.ES256, gp1.encode_pass(health_pass, es256)),
        ("GP1 EdDSA", eddsa, Alg.EDDSA, gp1.encode_pass(health_pass, eddsa)),
        ("HC1 ES256", dsc_key, Alg.ES256, _hc1_text(dsc_key, kid_of_certificate(dsc))),
    ):
        verdict = decide(text, trust=trust, revocations=revocations, now=NOW)
        assert verdict.reason is Reason.OK, f"{name}: the bench credential is {verdict.reason}, not ok"
        public_key = key.public_key()
        cases.append(
            Case(
                name,
                text,
                trust,
                revocations,
                _bare(public_key, alg, text),
                _stages(text, public_key, alg, revocations),
            )
        )
    return cases


def _timed(call: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        call()
    return time.perf_counter() - start


def _batch_size(call: Callable[[], object]) -> int:
    """How many calls take about ``BATCH_S``."""
    count = 1
    while (elapsed := _timed(call, count)) < BATCH_S / 4:
        count *= 2
    return max(1, round(count * BATCH_S / max(elapsed, 1e-9)))


def measure(case: Case, seconds: float) -> Row:
    """Decisions and bare verifications, alternating batch by batch (and which goes first) for ``seconds``."""
    calls = {"decide": case.decide_once, "bare": case.bare_verify}
    sizes = {name: _batch_size(call) for name, call in calls.items()}
    spent = dict.fromkeys(calls, 0.0)
    done = dict.fromkeys(calls, 0)
    order = ["decide", "bare"]
    deadline = time.perf_counter() + seconds
    while True:
        for name in order:
            spent[name] += _timed(calls[name], sizes[name])
            done[name] += sizes[name]
        order.reverse()
        if time.perf_counter() >= deadline:
            break
    return Row(case.name, done["decide"] / spent["decide"], done["bare"] / spent["bare"])


def profile(case: Case, seconds: float) -> list[StageTime]:
    """Microseconds per call of each stage alone, of all stages in a row, and of the decision.

    Each is the median of batches interleaved with the others over about ``seconds``. A stage alone runs with warm
    caches; back to back, each evicts some of the next one's code and data, which is what a decision pays too.
    """
    stages = list(case.stages.values())

    def back_to_back() -> None:
        for stage in stages:
            stage()

    calls = {**case.stages, BACK_TO_BACK: back_to_back, DECISION: case.decide_once}
    sizes = {name: _batch_size(call) for name, call in calls.items()}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    deadline = time.perf_counter() + seconds
    while True:
        for name, call in calls.items():
            samples[name].append(_timed(call, sizes[name]) / sizes[name] * 1e6)
        if time.perf_counter() >= deadline:
            break
    return [StageTime(case.name, name, statistics.median(values)) for name, values in samples.items()]


def _render(report: Report, console: Console, seconds: float) -> None:
    console.print(
        f"gridpass verify bench: Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{os.cpu_count()} CPUs, revocation list of {report.revocation_entries:,} entries, {seconds:g} s per case"
    )
    table = Table(title="Decisions per second next to bare signature verifications (same key, same bytes)")
    for column in ("case", "decisions/s", "bare verifies/s", "ratio", f"goal >= {GOAL_RATIO}x"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for row in report.rows:
        met = "[green]yes[/green]" if row.ratio >= GOAL_RATIO else "[red]no[/red]"
        table.add_row(row.name, f"{row.decisions_per_s:,.0f}", f"{row.verifies_per_s:,.0f}", f"{row.ratio:.2f}x", met)
    console.print(table)
    stages = Table(title="Where one decision's time goes (µs per call, share of the decision)")
    stages.add_column("stage")
    names = [row.name for row in report.rows]
    for name in names:
        stages.add_column(name, justify="right")
    by_key = {(s.case, s.stage): s.us for s in report.stages}
    derived: dict[str, Callable[[str], float]] = {
        "sum of the stages alone": lambda name: sum(by_key[name, s] for s in STAGES),
        "interference (back to back - sum)": lambda name: (
            by_key[name, BACK_TO_BACK] - derived["sum of the stages alone"](name)
        ),
        "glue (decision - back to back)": lambda name: by_key[name, DECISION] - by_key[name, BACK_TO_BACK],
    }
    order = (*STAGES, "sum of the stages alone", BACK_TO_BACK, *list(derived)[1:], DECISION)
    for stage in order:
        cells = []
        for name in names:
            us = derived[stage](name) if stage in derived else by_key[name, stage]
            cells.append(f"{us:7.1f}  {us / by_key[name, DECISION]:4.0%}")
        stages.add_row(stage, *cells, end_section=stage in {STAGES[-1], "glue (decision - back to back)"})
    console.print(stages)


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> Report:
    """Run the bench, print its tables and return the figures."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_verify", description=DESCRIPTION)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="measuring time per case")
    parser.add_argument("--rids", type=int, default=DEFAULT_RIDS, help="entries in the held revocation list")
    args = parser.parse_args(argv)
    cases = build_cases(args.rids)
    gc.collect()
    gc.disable()  # as timeit does: a collection landing in one side's batch would skew the ratio
    try:
        rows = [measure(case, args.seconds) for case in cases]
        stages = [stage for case in cases for stage in profile(case, args.seconds / 2)]
    finally:
        gc.enable()
    report = Report(rows, stages, args.rids)
    _render(report, console or Console(), args.seconds)
    return report


if __name__ == "__main__":
    main()
