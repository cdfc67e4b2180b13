"""The two binary files of a revocation store: the sorted base and the delta segments.

Base file (``base-SEQ-TOKEN.rids``), integers little-endian::

    offset 0      header, 4,096 bytes so that the rids start page-aligned: magic "GPRBASE1", format u32 (1),
                  bucket_bits u32, count u64, data_crc u32 (CRC-32 of the rids), table_crc u32,
                  header_crc u32 (CRC-32 of the 36 bytes before it), then zeros
    offset 4096   count rids of 16 bytes, strictly ascending bytewise
    then          the bucket table, 2**bucket_bits + 1 u32: table[b] is the index of the first rid whose top
                  bucket_bits bits are >= b, so bucket b is rids[table[b]:table[b + 1]]

Rids are SHA-256 prefixes, so their top bits are uniform: with about 64 to 128 rids per bucket, a lookup is two
reads of an in-memory table and one ``pread`` of about 1 KiB, and the table costs 4 bytes per bucket of RAM.

Segment file (``seg-SEQ-TOKEN.rids``): a 32-byte header (magic "GPRSEG01", n_add u64, n_del u64, data_crc u32,
header_crc u32), then the update's ``add`` rids and its ``del`` rids exactly as signed (sorted, no repeats).

Everything read back is checked (sizes, magic, CRCs, table shape, order) before it is used: these files live on an
SD card, and a damaged one must stop the store from opening rather than answer wrongly.
"""

from __future__ import annotations

import array
import os
import struct
import sys
import weakref
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from protocol.revocation import MAX_REVOCATION_ENTRIES, RID_BYTES

Rids = npt.NDArray[np.bytes_]
"""A 1-d array of dtype S16 (compare and sort it with NumPy, but take its bytes with ``tobytes``)."""

RID_DTYPE = np.dtype("S16")
HEADER_BYTES = 4096
BUCKET_TARGET = 128
"""A base gets the fewest bucket bits that keep the average bucket at or under this many rids."""
MAX_BUCKET_BITS = 20
CHUNK_ENTRIES = 16_384
"""Rids per read or write when streaming a base (256 KiB: larger buffers stay in the heap and in RSS)."""
BATCH_READ_BYTES = 256 * 1024
"""How much of the base one batch lookup reads at a time."""

_BASE_MAGIC = b"GPRBASE1"
_SEGMENT_MAGIC = b"GPRSEG01"
_FORMAT = 1
_BASE_HEADER = struct.Struct("<8sIIQII")
_SEGMENT_HEADER = struct.Struct("<8sQQI")
_CRC = struct.Struct("<I")


class FileFormatError(ValueError):
    """A store file is not what its name and the manifest say it is."""


def rids_of(data: bytes) -> Rids:
    """A zero-copy S16 view of concatenated rids."""
    return np.frombuffer(data, dtype=RID_DTYPE)


def strictly_ascending(rids: Rids) -> bool:
    """Whether the rids ascend bytewise without repeats (compared as pairs of big-endian 64-bit words)."""
    words = np.frombuffer(np.ascontiguousarray(rids).tobytes(), dtype=">u8").reshape(-1, 2)
    hi, lo = words[:, 0], words[:, 1]
    return bool(((hi[1:] > hi[:-1]) | ((hi[1:] == hi[:-1]) & (lo[1:] > lo[:-1]))).all())


def bucket_bits_for(count: int) -> int:
    """Bucket bits of a base holding ``count`` rids."""
    buckets = -(-count // BUCKET_TARGET)
    return min(MAX_BUCKET_BITS, max(0, buckets - 1).bit_length())


def buckets_of(rids: Rids, bits: int) -> npt.NDArray[np.int64]:
    """The bucket of each rid: its top ``bits`` bits."""
    raw = np.frombuffer(np.ascontiguousarray(rids).tobytes(), dtype=np.uint8).reshape(-1, RID_BYTES)
    top = (raw[:, 0].astype(np.int64) << 16) | (raw[:, 1].astype(np.int64) << 8) | raw[:, 2]
    return top >> (24 - bits)


def _header_crc_ok(header: bytes) -> bool:
    return bool(zlib.crc32(header[:-4]) == _CRC.unpack(header[-4:])[0])


def _check_base(path: Path, fd: int, count: int) -> tuple[int, int, array.array[int]]:
    """Header, size and bucket table of an open base file; returns its bucket bits, data CRC and table."""
    head = os.pread(fd, _BASE_HEADER.size + 4, 0)
    if len(head) < _BASE_HEADER.size + 4 or not _header_crc_ok(head):
        raise FileFormatError(f"{path.name} has no valid header (truncated or overwritten)")
    magic, fmt, bits, held, data_crc, table_crc = _BASE_HEADER.unpack(head[:-4])
    if magic != _BASE_MAGIC or fmt != _FORMAT or bits > MAX_BUCKET_BITS:
        raise FileFormatError(f"{path.name} is not a base file of format {_FORMAT}")
    if held != count:
        raise FileFormatError(f"{path.name} holds {held} rids, the manifest says {count}")
    table_at = HEADER_BYTES + count * RID_BYTES
    table_bytes = 4 * ((1 << bits) + 1)
    size = os.fstat(fd).st_size
    if size != table_at + table_bytes:
        raise FileFormatError(f"{path.name} is {size} bytes, {table_at + table_bytes} expected (truncated?)")
    raw_table = os.pread(fd, table_bytes, table_at)
    checked = np.frombuffer(raw_table, dtype="<u4")
    if (
        zlib.crc32(raw_table) != table_crc
        or checked[0] != 0
        or checked[-1] != count
        or (checked[1:] < checked[:-1]).any()
    ):
        raise FileFormatError(f"{path.name} has a damaged bucket table")
    table = array.array("I", raw_table)  # the one copy kept: Python indexes an array faster than NumPy
    if sys.byteorder == "big":  # pragma: no cover - the file is little-endian
        table.byteswap()
    return int(bits), int(data_crc), table


class BaseWriter:
    """Streams ascending rids into a new base file. Nothing refers to the file until a manifest names it."""

    def __init__(self, path: Path, count: int) -> None:
        if not 0 <= count <= MAX_REVOCATION_ENTRIES:
            raise ValueError(f"a base holds at most {MAX_REVOCATION_ENTRIES} rids, not {count}")
        self.path = path
        self.count = count
        self.bits = bucket_bits_for(count)
        self._counts = np.zeros(1 << self.bits, dtype=np.int64)
        self._crc = 0
        self._written = 0
        self._last: bytes | None = None
        self._out = path.open("xb")
        self._out.write(bytes(HEADER_BYTES))

    def __enter__(self) -> BaseWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            self.abort()

    def write(self, rids: Rids) -> None:
        """Append rids that continue the ascending order."""
        if not len(rids):
            return
        data = np.ascontiguousarray(rids).tobytes()
        if not strictly_ascending(rids) or (self._last is not None and data[:RID_BYTES] <= self._last):
            raise ValueError("rids written to a base must ascend without repeats")
        self._written += len(rids)
        if self._written > self.count:
            raise ValueError(f"more rids than the {self.count} announced")
        self._last = data[-RID_BYTES:]
        self._crc = zlib.crc32(data, self._crc)
        self._out.write(data)
        self._counts += np.bincount(buckets_of(rids, self.bits), minlength=len(self._counts))

    def finish(self) -> None:
        """Write the table and header and make the file durable (the caller then fsyncs the directory)."""
        if self._written != self.count:
            raise ValueError(f"{self._written} rids written, {self.count} announced")
        table = np.zeros(len(self._counts) + 1, dtype="<u4")
        np.cumsum(self._counts, out=table[1:])
        table_bytes = table.tobytes()
        self._out.write(table_bytes)
        head = _BASE_HEADER.pack(_BASE_MAGIC, _FORMAT, self.bits, self.count, self._crc, zlib.crc32(table_bytes))
        self._out.seek(0)
        self._out.write(head + _CRC.pack(zlib.crc32(head)))
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()

    def abort(self) -> None:
        """Drop the partial file."""
        self._out.close()
        self.path.unlink(missing_ok=True)


class BaseFile:
    """An open, checked base file: lookups by bucket table and ``pread``; its pages never enter our RSS."""

    def __init__(self, path: Path, fd: int, count: int, bits: int, table: array.array[int]) -> None:
        self.path = path
        self.count = count
        self.bits = bits
        self._fd = fd
        self._shift = 24 - bits
        self._table = table
        self._table_np = np.frombuffer(table, dtype=np.uint32)  # a view, for batch lookups
        self._close = weakref.finalize(self, os.close, fd)
        """Old versions still read by another thread keep their base open; the last reference closes it."""

    @classmethod
    def open(cls, path: Path, *, count: int, verify: bool) -> BaseFile:
        """Open and check a base that should hold ``count`` rids; ``verify`` also checks the CRC of every rid."""
        fd = os.open(path, os.O_RDONLY)
        try:
            bits, data_crc, table = _check_base(path, fd, count)
        except BaseException:
            os.close(fd)
            raise
        base = cls(path, fd, count, bits, table)
        if verify and base.data_crc() != data_crc:
            base.close()
            raise FileFormatError(f"{path.name}: the rids do not match their CRC (damaged on the card)")
        return base

    def close(self) -> None:
        """Close now (lookups on this version fail afterwards)."""
        self._fd = -1
        self._close()

    def data_crc(self) -> int:
        """CRC-32 of every rid, read in chunks (bounded memory)."""
        crc = 0
        for chunk in self.chunks():
            crc = zlib.crc32(chunk.tobytes(), crc)
        return crc

    def chunks(self) -> Iterator[Rids]:
        """Every rid in order, ``CHUNK_ENTRIES`` at a time."""
        for start in range(0, self.count, CHUNK_ENTRIES):
            entries = min(CHUNK_ENTRIES, self.count - start)
            data = os.pread(self._fd, entries * RID_BYTES, HEADER_BYTES + start * RID_BYTES)
            if len(data) != entries * RID_BYTES:
                raise FileFormatError(f"{self.path.name} was truncated while in use")
            yield rids_of(data)

    def __contains__(self, rid: bytes) -> bool:
        """Whether the 16-byte ``rid`` is in the base: one table read, one ``pread`` of its bucket."""
        bucket = int.from_bytes(rid[:3], "big") >> self._shift
        start, end = self._table[bucket], self._table[bucket + 1]
        if start == end:
            return False
        block = os.pread(self._fd, (end - start) * RID_BYTES, HEADER_BYTES + start * RID_BYTES)
        at = block.find(rid)
        while at >= 0:
            if not at % RID_BYTES:
                return True
            at = block.find(rid, at + 1)
        return False

    def contains_sorted(self, queries: Rids) -> npt.NDArray[np.bool_]:
        """Membership of many ascending rids: each bucket they touch is read once, neighbours in one read."""
        found = np.zeros(len(queries), dtype=np.bool_)
        if not len(queries) or not self.count:
            return found
        every = buckets_of(queries, self.bits)  # ascending, as the queries are
        first = np.flatnonzero(np.concatenate(([True], every[1:] != every[:-1])))
        buckets = every[first]
        starts = self._table_np[buckets].astype(np.int64).tolist()
        ends = self._table_np[buckets + 1].astype(np.int64).tolist()
        first_query = [*first.tolist(), len(queries)]
        group, run_start, run_end, group_bytes, group_from = [], 0, 0, 0, 0
        for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
            if start == end:
                continue
            if start != run_end or (end - run_start) * RID_BYTES > BATCH_READ_BYTES:
                if run_end > run_start:
                    group.append((run_start, run_end))
                    group_bytes += (run_end - run_start) * RID_BYTES
                run_start = start
                if group_bytes >= BATCH_READ_BYTES:
                    self._match(group, queries, found, first_query[group_from], first_query[i])
                    group, group_bytes, group_from = [], 0, i
            run_end = end
        if run_end > run_start:
            group.append((run_start, run_end))
        self._match(group, queries, found, first_query[group_from], len(queries))
        return found

    def _match(
        self, runs: list[tuple[int, int]], queries: Rids, found: npt.NDArray[np.bool_], lo: int, hi: int
    ) -> None:
        if not runs or lo >= hi:
            return
        pieces = [os.pread(self._fd, (e - s) * RID_BYTES, HEADER_BYTES + s * RID_BYTES) for s, e in runs]
        hay = rids_of(b"".join(pieces))
        wanted = queries[lo:hi]
        at = np.minimum(np.searchsorted(hay, wanted), len(hay) - 1)
        found[lo:hi] = hay[at] == wanted


def write_segment(path: Path, add: bytes, delete: bytes) -> None:
    """Write an update's rids to a new segment file and make it durable (the caller fsyncs the directory)."""
    head = _SEGMENT_HEADER.pack(
        _SEGMENT_MAGIC, len(add) // RID_BYTES, len(delete) // RID_BYTES, zlib.crc32(delete, zlib.crc32(add))
    )
    with path.open("xb") as out:
        out.write(head + _CRC.pack(zlib.crc32(head)))
        out.write(add)
        out.write(delete)
        out.flush()
        os.fsync(out.fileno())


def read_segment(path: Path, *, adds: int, dels: int) -> tuple[bytes, bytes]:
    """The ``add`` and ``del`` rids of a segment the manifest says holds ``adds`` and ``dels`` of them."""
    if not (0 <= adds <= MAX_REVOCATION_ENTRIES and 0 <= dels <= MAX_REVOCATION_ENTRIES):
        raise FileFormatError(f"{path.name}: the manifest gives impossible counts")
    expected = _SEGMENT_HEADER.size + 4 + (adds + dels) * RID_BYTES
    with path.open("rb") as source:
        data = source.read(expected + 1)
    if len(data) != expected:
        raise FileFormatError(f"{path.name} is {len(data)} bytes, {expected} expected (truncated?)")
    head, body = data[: _SEGMENT_HEADER.size + 4], data[_SEGMENT_HEADER.size + 4 :]
    if not _header_crc_ok(head):
        raise FileFormatError(f"{path.name} has no valid header")
    magic, n_add, n_del, crc = _SEGMENT_HEADER.unpack(head[:-4])
    if magic != _SEGMENT_MAGIC or (n_add, n_del) != (adds, dels) or zlib.crc32(body) != crc:
        raise FileFormatError(f"{path.name} does not match the manifest or its CRC (damaged on the card)")
    add, delete = body[: adds * RID_BYTES], body[adds * RID_BYTES :]
    if not (strictly_ascending(rids_of(add)) and strictly_ascending(rids_of(delete))):
        raise FileFormatError(f"{path.name} holds rids out of order")
    return add, delete
