"""The target's four serving loops over real sockets: batched (recvmmsg/sendmmsg and the fast
path) and plain (one recv and one send a frame, the portable fallback), each on one interface
and on two. Every loop must write, read back, answer Query Config, refuse what it should, and
stop when asked."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pyaoe.lab.netns import Lab, in_netns
from pyaoe.net.packet_socket import PacketSocket
from pyaoe.protocol import AtaArg, ConfigArg, Frame, Header, decode_frame, encode_frame
from pyaoe.service.target import ExportSpec, TargetService
from pyaoe.service.target_config import ExportSettings, open_export
from support.packets import recv_frame

pytestmark = pytest.mark.netns

SHELF, SLOT = 4, 2


def ata(command: int, lba: int, count: int, data: bytes = b"") -> AtaArg:
    return AtaArg(
        aflags=0x40 | (0x01 if data else 0), sector_count=count, cmd_status=command, lba=lba, data=data
    )


def ask(sock: PacketSocket, dst: bytes, src: bytes, command: int, arg: Any, tag: int) -> Frame:
    header = Header(dst=dst, src=src, shelf=SHELF, slot=SLOT, command=command, tag=tag)
    sock.send(encode_frame(Frame(header, arg)))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        raw = recv_frame(sock, timeout=0.5)
        if raw is None or raw[6:12] != dst or len(raw) < 24:
            continue
        frame = decode_frame(raw)
        if frame.header.tag == tag:
            return frame
    raise AssertionError(f"no answer to tag {tag:#x}")


@pytest.mark.parametrize("interfaces", [1, 2])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "plain"])
def test_each_loop_serves_every_interface(tmp_path: Path, batched: bool, interfaces: int) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    with Lab() as lab:
        there, here = lab.netns("lpt"), lab.netns("lpi")
        links = [lab.veth(there, here, mtu=1500) for _ in range(interfaces)]
        settings = ExportSettings.build(
            shelf=SHELF, slot=SLOT, netifs=[t.ifname for t, _h in links], file=str(disk)
        )
        spec = ExportSpec(open_export(settings, None), list(settings.netifs))
        service = TargetService([spec], batched=batched)
        with in_netns(there):
            service.open()
        with in_netns(here):
            socks = [PacketSocket(h.ifname) for _t, h in links]
        serving = threading.Thread(target=service.serve_forever, daemon=True)
        serving.start()
        try:
            for i, ((t, h), sock) in enumerate(zip(links, socks, strict=True)):
                dst, src = t.mac, h.mac
                data = os.urandom(1024)
                lba = 100 + 10 * i
                wrote = ask(sock, dst, src, 0, ata(0x34, lba, 2, data), 0x100 + i)
                assert not wrote.header.error and isinstance(wrote.arg, AtaArg)
                assert wrote.arg.cmd_status == 0x40  # DRDY, no ERR
                read = ask(sock, dst, src, 0, ata(0x24, lba, 2), 0x200 + i)
                assert isinstance(read.arg, AtaArg) and read.arg.data == data
                config = ask(sock, dst, src, 1, ConfigArg(), 0x300 + i)
                assert isinstance(config.arg, ConfigArg) and config.arg.sector_count == 2
                past_end = ask(sock, dst, src, 0, ata(0x24, 2047, 2), 0x400 + i)
                assert isinstance(past_end.arg, AtaArg) and past_end.arg.cmd_status & 0x01  # ERR
                unknown = ask(sock, dst, src, 9, b"", 0x500 + i)
                assert unknown.header.error == 1  # unrecognized command
                with open(disk, "rb") as f:
                    f.seek(lba * 512)
                    assert f.read(1024) == data
        finally:
            service.stop()
            serving.join(timeout=5)
            for sock in socks:
                sock.close()
            service.close()
        assert not serving.is_alive(), "the loop did not stop within 5 s of stop()"
