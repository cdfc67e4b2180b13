"""Lines out of a byte stream: split anywhere, overlong ones dropped whole, reads bounded per loop."""

from __future__ import annotations

import os
import select

from hypothesis import given
from hypothesis import strategies as st

from tests.hardware.board import fake_machine
from tests.hardware.board.conftest import BoardCode

LIMIT = 64


def test_lines_split_across_reads_are_joined(code: BoardCode) -> None:
    buffer = code.link.LineBuffer(LIMIT)
    assert buffer.feed(b"1 H") == []
    assert buffer.feed(b"\n2 S\n3 ") == [b"1 H\n", b"2 S\n"]
    assert buffer.feed(b"V\n") == [b"3 V\n"]


def test_an_overlong_line_is_reported_once_and_the_next_one_is_whole(code: BoardCode) -> None:
    buffer = code.link.LineBuffer(LIMIT)
    assert buffer.feed(b"x" * 200) == []
    assert buffer.feed(b"y" * 200 + b"\n4 H\n") == [None, b"4 H\n"]
    assert buffer.feed(b"z" * 63 + b"\n") == [b"z" * 63 + b"\n"]
    assert buffer.feed(b"z" * 64 + b"\n") == [None]


@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=10))
def test_any_chunking_gives_the_same_lines(code: BoardCode, data: bytes, cuts: list[int]) -> None:
    whole = code.link.LineBuffer(LIMIT).feed(data)
    buffer = code.link.LineBuffer(LIMIT)
    pieces, start = [], 0
    for cut in sorted(cuts):
        pieces.append(data[start:cut])
        start = max(start, cut)
    pieces.append(data[start:])
    assert [line for piece in pieces for line in buffer.feed(piece)] == whole
    assert all(line is None or (len(line) <= LIMIT and line.endswith(b"\n")) for line in whole)


def test_uart_link_reads_what_waits_and_writes_replies(code: BoardCode) -> None:
    uart = fake_machine.UART(0)
    link = code.link.UartLink(uart, LIMIT)
    assert link.read_lines() == []
    uart.incoming += b"1 H\n2 S"
    assert link.read_lines() == [b"1 H\n"]
    link.write(b"1 ok\n")
    assert bytes(uart.sent) == b"1 ok\n"


def test_uart_link_takes_a_bounded_amount_per_call(code: BoardCode) -> None:
    uart = fake_machine.UART(0)
    uart.incoming += b"1 H\n" * 1000
    link = code.link.UartLink(uart, LIMIT)
    first = link.read_lines()
    assert 0 < len(first) <= code.link.MAX_READ_BYTES // 4
    assert uart.any() == 4000 - code.link.MAX_READ_BYTES


def test_stream_link_reads_only_while_the_poller_says_so(code: BoardCode) -> None:
    read_fd, write_fd = os.pipe()
    try:
        poller = select.poll()
        poller.register(read_fd, select.POLLIN)
        with (
            open(read_fd, "rb", buffering=0, closefd=False) as reader,
            open(write_fd, "wb", buffering=0, closefd=False) as writer,
        ):
            link = code.link.StreamLink(reader, writer, poller, LIMIT)
            assert link.read_lines() == []
            os.write(write_fd, b"5 V\n6 H")
            assert link.read_lines() == [b"5 V\n"]
            link.write(b"5 ok\n")
            assert os.read(read_fd, 100) == b"5 ok\n"
    finally:
        os.close(read_fd)
        os.close(write_fd)
