"""A whole flashing run on an image file: everything read back, reruns after a crash at every step are the same
device, the hub unreachable queues the enrolment once, and bad targets are refused with nothing written."""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.config import validate
from hardware.flash import firstboot
from hardware.flash.enrol_queue import EnrolQueue, QueuedEnrolment
from hardware.flash.errors import BoardError, FlashError, HubConflictError, HubError, NotABootPartitionError
from hardware.flash.state import KEY_FILE, MARKER, PASSWORD_FILE, PUBLIC_KEY_FILE, parse_state
from hardware.flash.tool import STEPS, BoardHooks, FlashOptions, FlashResult, flash, hub_enrol
from protocol.keys import load_private_key_pem, public_key_pem
from tests.hardware.flash.pi_image import CMDLINE, make_image, read_boot_files
from tests.hardware.flash.profile import PROFILE, ROOT_PUBLIC_PEM

NO_BOARD = BoardHooks(find=lambda: None)


class CrashError(Exception):
    """The technician's laptop dies here."""


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on (bound, not listening: connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def options(target: Path, tmp_path: Path, hub_port: int, **changes: object) -> FlashOptions:
    """Options as the CLI would build them."""
    values: dict[str, object] = {
        "target": target, "profile_name": "scanner", "profile": PROFILE, "site": "SH-PD-1", "grid_cell": "G-7",
        "list_id": "CN-SH-PD", "hub_url": f"http://127.0.0.1:{hub_port}", "broker_host": "127.0.0.1",
        "broker_port": 1883, "root_key_pem": ROOT_PUBLIC_PEM, "label_dir": tmp_path / "labels", **changes,
    }  # fmt: skip
    return FlashOptions(**values)  # type: ignore[arg-type]


def run(opts: FlashOptions, queue: EnrolQueue, crash_at: str | None = None) -> FlashResult:
    """One run, crashing after step ``crash_at``."""

    def report(step: str, _detail: str) -> None:
        if step == crash_at:
            raise CrashError(step)

    return flash(
        opts, queue=queue, enrol=hub_enrol("token"), now=lambda: 1_700_000_000.0, report=report, board=NO_BOARD
    )


def test_an_image_is_prepared_and_every_file_reads_back(tmp_path: Path, closed_port: int) -> None:
    image = make_image(tmp_path / "pios.img")
    queue = EnrolQueue(tmp_path / "queue")
    result = run(options(image, tmp_path, closed_port), queue)
    files = read_boot_files(image)
    device_id = result.device_id
    card = parse_state(files[MARKER])
    assert card.device_id == device_id
    assert card.steps == {"files": "written", "enrolment": "queued", "board": "skipped", "label": "printed"}
    key = load_private_key_pem(files[KEY_FILE])
    assert public_key_pem(key.public_key()) == files[PUBLIC_KEY_FILE] == (card.public_key_pem or "").encode()
    config = validate(tomllib.loads(files[firstboot.CONFIG_FILE].decode()))
    assert config.device.id == device_id
    assert config.sync is not None
    assert config.sync.broker_port == 1883
    assert files[firstboot.ROOT_KEY_FILE] == ROOT_PUBLIC_PEM
    assert files[firstboot.SCRIPT_FILE].startswith(b"#!/bin/sh")
    assert b"ExecStart=/opt/gridpass/current/bin/gridpass device run" in files[firstboot.UNIT_FILE]
    assert files["cmdline.txt"].startswith(CMDLINE.strip())
    assert b"systemd.run=/boot/firmware/gridpass/firstboot.sh" in files["cmdline.txt"]
    assert firstboot.WIFI_FILE not in files
    assert not [name for name in files if name.endswith(".new")]
    assert result.enrolment == "queued"
    assert queue.pending() == [device_id]
    assert (tmp_path / "labels" / f"{device_id}.png").is_file()


@pytest.mark.parametrize("crash_at", STEPS[:-1])
def test_a_rerun_after_a_crash_at_any_step_is_the_same_device(tmp_path: Path, closed_port: int, crash_at: str) -> None:
    image = make_image(tmp_path / "pios.img")
    queue = EnrolQueue(tmp_path / "queue")
    opts = options(image, tmp_path, closed_port)
    with pytest.raises(CrashError):
        run(opts, queue, crash_at=crash_at)
    first = read_boot_files(image)
    result = run(opts, queue)
    files = read_boot_files(image)
    assert parse_state(files[MARKER]).device_id == parse_state(first[MARKER]).device_id == result.device_id
    if KEY_FILE in first and parse_state(first[MARKER]).public_key_pem is not None:
        assert files[KEY_FILE] == first[KEY_FILE]
        assert files[PASSWORD_FILE] == first[PASSWORD_FILE]
    assert queue.pending() == [result.device_id]
    assert files["cmdline.txt"].count(b"systemd.run=") == 1


def test_a_second_full_run_changes_nothing_but_delivers_again(tmp_path: Path, closed_port: int) -> None:
    image = make_image(tmp_path / "pios.img")
    queue = EnrolQueue(tmp_path / "queue")
    opts = options(image, tmp_path, closed_port, wifi=firstboot.Wifi("depot", "password1", "CN"))
    first = run(opts, queue)
    before = read_boot_files(image)
    second = run(opts, queue)
    after = read_boot_files(image)
    assert second.device_id == first.device_id
    assert not second.new_card
    assert {k: v for k, v in after.items() if k != MARKER} == {k: v for k, v in before.items() if k != MARKER}
    assert b"ssid=depot" in after[firstboot.WIFI_FILE]
    assert queue.pending() == [first.device_id]


def test_the_queue_keeps_one_entry_per_device_and_delivers_it_once(tmp_path: Path, closed_port: int) -> None:
    queue = EnrolQueue(tmp_path / "queue")
    ids = []
    for name in ("a", "b"):
        image = make_image(tmp_path / f"{name}.img")
        ids.append(run(options(image, tmp_path, closed_port), queue).device_id)
        run(options(image, tmp_path, closed_port), queue)
    assert sorted(queue.pending()) == sorted(ids)
    delivered: list[str] = []

    def hub(item: QueuedEnrolment) -> bool:
        delivered.append(item.request.id)
        return True

    assert sorted(queue.deliver(hub).delivered) == sorted(ids)
    assert queue.deliver(hub).delivered == []
    assert sorted(delivered) == sorted(ids)
    assert (tmp_path / "queue").stat().st_mode & 0o777 == 0o700
    assert not list((tmp_path / "queue").glob("*.json"))


def test_a_conflict_at_the_hub_is_moved_aside_with_its_reason(tmp_path: Path) -> None:
    queue = EnrolQueue(tmp_path / "queue")
    image = make_image(tmp_path / "pios.img")

    def conflict(item: QueuedEnrolment) -> bool:
        raise HubConflictError(f"the hub already has device {item.request.id} with another key")

    with pytest.raises(HubConflictError, match="decommission"):
        flash(options(image, tmp_path, 1), queue=queue, enrol=conflict, now=lambda: 1.0, board=NO_BOARD)
    assert queue.pending() == []
    assert len(list((tmp_path / "queue" / "refused").glob("*.reason.txt"))) == 1


def test_a_refused_token_keeps_the_enrolment_queued_and_says_so(tmp_path: Path) -> None:
    queue = EnrolQueue(tmp_path / "queue")
    image = make_image(tmp_path / "pios.img")

    def refuse(_item: QueuedEnrolment) -> bool:
        raise HubError("the hub refused the token (Unauthorized)")

    with pytest.raises(FlashError, match="stays queued"):
        flash(options(image, tmp_path, 1), queue=queue, enrol=refuse, now=lambda: 1.0, board=NO_BOARD)
    assert len(queue.pending()) == 1


def test_a_board_that_answers_garbage_stops_the_run_and_a_rerun_finishes(tmp_path: Path, closed_port: int) -> None:
    image = make_image(tmp_path / "pios.img")
    queue = EnrolQueue(tmp_path / "queue")
    with_board = {**PROFILE, "signal": {"indicator": "serial", "gate": "serial", "serial": {"port": "/dev/ttyACM0"}}}
    opts = options(image, tmp_path, closed_port, profile=with_board)

    def garbage(_device: str, _firmware: object) -> str:
        raise BoardError("the signal board answered garbage (unknown verb): re-flash it, or check the cable")

    bad = BoardHooks(find=lambda: "/dev/ttyACM0", flash=garbage)
    with pytest.raises(BoardError, match="garbage"):
        flash(opts, queue=queue, enrol=hub_enrol("t"), now=lambda: 1.0, board=bad)
    first_id = parse_state(read_boot_files(image)[MARKER]).device_id
    good = BoardHooks(find=lambda: "/dev/ttyACM0", flash=lambda device, _fw: f"gridpass-board 1.0.0 on {device}")
    result = flash(opts, queue=queue, enrol=hub_enrol("t"), now=lambda: 1.0, board=good)
    assert result.device_id == first_id
    assert result.board.startswith("flashed")
    without = flash(options(make_image(tmp_path / "b.img"), tmp_path, closed_port), queue=queue,
                    enrol=hub_enrol("t"), now=lambda: 1.0, board=bad)  # fmt: skip
    assert without.board == "skipped: this profile has no signal board"


def test_not_an_sd_card_is_refused_and_nothing_is_written(tmp_path: Path, closed_port: int) -> None:
    folder = tmp_path / "Documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    queue = EnrolQueue(tmp_path / "queue")
    with pytest.raises(NotABootPartitionError, match="not a Raspberry Pi OS boot partition"):
        run(options(folder, tmp_path, closed_port), queue)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    with pytest.raises(NotABootPartitionError, match="does not exist"):
        run(options(tmp_path / "missing.img", tmp_path, closed_port), queue)
    assert queue.pending() == []


def test_a_truncated_image_is_refused_and_left_as_it_was(tmp_path: Path, closed_port: int) -> None:
    image = make_image(tmp_path / "pios.img")
    with image.open("r+b") as file:
        file.truncate(image.stat().st_size // 2)
    before = image.read_bytes()
    with pytest.raises(NotABootPartitionError, match="truncated"):
        run(options(image, tmp_path, closed_port), EnrolQueue(tmp_path / "queue"))
    assert image.read_bytes() == before
