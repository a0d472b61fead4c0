"""aoeping's IDENTIFY and SMART paths against a small fake disk that claims SMART (vblade does
not), compared line for line with Debian's aoeping where both can run."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pytest

from pyaoe.lab.netns import Lab, in_netns
from pyaoe.net import PacketSocket, target_filter
from pyaoe.protocol import (
    AtaArg,
    AtaCommand,
    Command,
    ConfigArg,
    Frame,
    build_identify,
    decode_frame,
    encode_frame,
    reply_header,
)
from support.packets import recv_frame

pytestmark = [pytest.mark.netns, pytest.mark.interop]

SHELF, SLOT = 4, 5
SMART_DATA = bytes(range(256)) * 2


@dataclass
class FakeDisk:
    """Answers config queries, IDENTIFY (with the SMART bit and vendor words set) and SMART."""

    sock: PacketSocket
    abort_smart: bool = False
    smart_requests: list[AtaArg] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def identify_page(self) -> bytes:
        page = bytearray(
            build_identify(4096, model="pyaoe fake smart disk", serial="FAKE0001", firmware="F1")
        )
        page[82 * 2] |= 0x01  # word 82 bit 0: SMART supported
        page[14:20] = bytes.fromhex("3412cdab0100")  # vendor words 7, 8, 9: 0x1234 0xabcd 0x0001
        return bytes(page)

    def answer(self, frame: Frame) -> Frame | None:
        header = reply_header(frame.header, self.sock.mac, SHELF, SLOT)
        if frame.header.command == Command.QUERY_CONFIG:
            return Frame(header, ConfigArg(buffer_count=16, firmware_version=0x4019, sector_count=2))
        arg = frame.arg
        if not isinstance(arg, AtaArg):
            return None
        if arg.cmd_status == AtaCommand.IDENTIFY_DEVICE:
            return Frame(header, AtaArg(cmd_status=0x40, data=self.identify_page()))
        if arg.cmd_status == AtaCommand.SMART:
            self.smart_requests.append(arg)
            if self.abort_smart:
                return Frame(header, AtaArg(cmd_status=0x41, err_feature=0x04, data=bytes(512)))
            # A healthy disk: Error 0, LBA registers echoed, status DRDY, one sector of data.
            return Frame(
                header,
                replace(arg, aflags=0, err_feature=0, sector_count=0, cmd_status=0x40, data=SMART_DATA),
            )
        return None

    def serve(self) -> None:
        while not self.stop.is_set():
            data = recv_frame(self.sock, timeout=0.05)
            if data is None:
                continue
            reply = self.answer(decode_frame(data))
            if reply is not None:
                self.sock.send(encode_frame(reply))


@dataclass
class Setup:
    lab: Lab
    ns: str
    netif: str
    disk: FakeDisk

    def run(self, argv: list[str], stdin: bytes | None = None) -> tuple[int, str, str]:
        proc = self.lab.run(self.ns, argv, timeout=30, input=stdin, text=False)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def ours(self, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        return self.run([sys.executable, "-m", "pyaoe.cli.aoeping", *args], stdin)

    def debian(self, *args: str) -> tuple[int, str, str]:
        return self.run(["/usr/sbin/aoeping", *args])


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    with Lab() as lab:
        ns_t, ns_i = lab.netns("smtgt"), lab.netns("smini")
        target, initiator = lab.veth(ns_t, ns_i)
        with in_netns(ns_t):
            sock = PacketSocket(target.ifname, bpf_program=target_filter(target.mac, SHELF, SLOT))
        disk = FakeDisk(sock)
        thread = threading.Thread(target=disk.serve, daemon=True)
        thread.start()
        try:
            yield Setup(lab, ns_i, initiator.ifname, disk)
        finally:
            disk.stop.set()
            thread.join(5)
            sock.close()


def test_identify_fields_match_debian(setup):
    args = ("-I", "-s", "5", str(SHELF), str(SLOT), setup.netif)
    ours = setup.ours(*args)
    assert ours == setup.debian(*args)
    assert ours[1] == (
        "device identify fields:\n"
        "vendor_specific_0: 0x3412\n"  # aoeping prints the vendor words byte-swapped
        "vendor_specific_1: 0xCDAB\n"
        "vendor_specific_2: 0x100\n"
        "serial_number: FAKE0001            \n"
        "firmware_rev: F1      \n"
        "model: pyaoe fake smart disk                   \n"
    )


@pytest.mark.parametrize("command", ["return_status", "read_data", "read_log:3", "enable"])
def test_smart_matches_debian(setup, command):
    args = ("-S", command, "-s", "5", str(SHELF), str(SLOT), setup.netif)
    setup.disk.smart_requests.clear()
    ours = setup.ours(*args)
    assert ours == setup.debian(*args)
    rc, out, err = ours
    assert rc == 0 and err == ""
    assert (
        "ATA registers:\n" in out
        and "             LBA Mid: 0x4f\n" in out
        and "            LBA High: 0xc2\n" in out
    )
    assert ("SMART data:\n" in out) == command.startswith("read_")
    features = {"return_status": 0xDA, "read_data": 0xD0, "read_log:3": 0xD5, "enable": 0xD8}
    assert [r.err_feature for r in setup.disk.smart_requests] == [features[command]] * 2
    if command == "read_log:3":
        assert "             LBA Low: 0x03\n" in out


def test_smart_write_log_sends_stdin_as_a_write(setup):
    setup.disk.smart_requests.clear()
    sector = bytes(range(255, -1, -1)) * 2
    rc, out, err = setup.ours(
        "-S", "write_log:1", "-s", "5", str(SHELF), str(SLOT), setup.netif, stdin=sector
    )
    assert (rc, err) == (0, "")
    [request] = setup.disk.smart_requests
    assert request.is_write and request.sector_count == 1 and request.data[:512] == sector
    assert request.lba & 0xFF == 1 and "SMART data:" not in out


def test_smart_abort(setup):
    setup.disk.abort_smart = True
    try:
        args = ("-S", "return_status", "-s", "5", str(SHELF), str(SLOT), setup.netif)
        ours = setup.ours(*args)
        assert ours == setup.debian(*args)
        assert ours == (1, "", "SMART command aborted on target.\n")
    finally:
        setup.disk.abort_smart = False
