"""pyaoe's NBD server (what `pyaoe nbd` runs) over memory exports, driven by the real NBD clients:
nbdinfo, nbdcopy, qemu-io and qemu-img, plus raw sockets for the failure cases a client can cause
(a malformed handshake, a disconnect mid-request, an export that does not exist)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from pyaoe.nbd.client import NbdConnection, Op
from pyaoe.protocol.nbd.uri import parse_nbd_uri
from pyaoe.protocol.nbd.wire import Cmd, NbdError, Request, encode_request
from support.nbd import memory_server
from support.wait import wait_until

pytestmark = pytest.mark.timeout(120)

MiB = 1 << 20


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=check)


def test_nbdinfo_lists_exports_and_their_facts(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"e1.2": 8 * MiB, "e1.3": MiB}, readonly=["e1.3"]) as served:
        listed = json.loads(run("nbdinfo", "--list", "--json", served.uri("")).stdout)
        names = {e["export-name"]: e for e in listed["exports"]}
        assert set(names) == {"e1.2", "e1.3"}
        info = names["e1.2"]
        assert info["export-size"] == 8 * MiB
        assert info["can_multi_conn"] and info["can_flush"] and info["can_fua"] and info["can_zero"]
        assert not info["is_read_only"]
        assert (info["block_size_minimum"], info["block_size_preferred"]) == (512, 4096)
        assert names["e1.3"]["is_read_only"]
        assert run("nbdinfo", "--size", served.uri("e1.2")).stdout.strip() == str(8 * MiB)


def test_nbdcopy_in_and_out_and_qemu_img_compare(tmp_path: Path) -> None:
    image = tmp_path / "random.img"
    image.write_bytes(os.urandom(8 * MiB))
    with memory_server(tmp_path / "s.sock", {"disk": 8 * MiB}) as served:
        uri = served.uri("disk")
        run("nbdcopy", "--connections=4", "--requests=16", str(image), uri)
        assert bytes(served.provider.disks["disk"].data) == image.read_bytes()
        back = tmp_path / "back.img"
        run("nbdcopy", uri, str(back))
        assert back.read_bytes() == image.read_bytes()
        assert run("qemu-img", "compare", "-f", "raw", "-F", "raw", str(image), uri).returncode == 0


def test_qemu_io_reads_writes_and_flushes(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"disk": 4 * MiB}) as served:
        uri = served.uri("disk")
        disk = served.provider.disks["disk"]
        out = run(
            "qemu-io", "-f", "raw", uri,
            "-c", "write -P 0xab 4096 65536", "-c", "write -f -P 0xcd 1048576 512", "-c", "flush",
            "-c", "read -P 0xab 4096 65536", "-c", "read -P 0xcd 1048576 512",
        ).stdout  # fmt: skip
        assert "Pattern verification failed" not in out
        assert disk.data[4096 : 4096 + 65536] == b"\xab" * 65536
        assert disk.data[MiB : MiB + 512] == b"\xcd" * 512
        # The FUA write flushed once, the flush command once more.
        assert len(disk.flushes) >= 2


def test_read_only_export_refuses_writes(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"ro": MiB}, readonly=["ro"]) as served:
        # QEMU sees the flag and will not open the export for writing ...
        done = run("qemu-io", "-f", "raw", "-c", "write -P 1 0 512", served.uri("ro"), check=False)
        assert done.returncode != 0 and "Permission denied" in done.stderr
        # ... and a client that writes anyway gets EPERM.
        conn = NbdConnection(parse_nbd_uri(served.uri("ro")))
        try:
            assert conn.readonly
            assert conn.run([Op(Cmd.WRITE, 0, [memoryview(b"x" * 512)])]) == [NbdError.EPERM]
        finally:
            conn.close()
        assert served.provider.disks["ro"].data[:512] == bytes(512)


def test_unknown_export_is_refused_by_name(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"e1.2": MiB}) as served:
        done = run("nbdinfo", served.uri("e9.9"), check=False)
        assert done.returncode != 0
        assert "e9.9" in done.stderr
        # The server goes on.
        assert run("nbdinfo", "--size", served.uri("e1.2")).stdout.strip() == str(MiB)


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(path))
    assert sock.recv(18, socket.MSG_WAITALL)[:8] == b"NBDMAGIC"
    return sock


@pytest.mark.parametrize(
    "junk",
    [
        b"\x00\x00\x00\x01" + b"GET / HTTP/1.1\r\n\r\n",  # fixed newstyle, then no IHAVEOPT
        b"\x00\x00\x00\x00",  # not fixed newstyle
        b"\xff\xff\xff\xff",  # unknown flags
        b"\x00\x00\x00\x01IHAVEOPT\x00\x00\x00\x07\x7f\xff\xff\xff",  # an option of 2 GiB
    ],
)
def test_malformed_handshake_is_dropped_and_the_server_goes_on(tmp_path: Path, junk: bytes) -> None:
    with memory_server(tmp_path / "s.sock", {"disk": MiB}) as served:
        sock = _connect(served.path)
        sock.sendall(junk)
        assert sock.recv(1024) == b""  # the server hung up
        sock.close()
        wait_until(lambda: served.server.counters.protocol_errors == 1, what="the protocol error counted")
        assert run("nbdinfo", "--size", served.uri("disk")).stdout.strip() == str(MiB)


def test_client_disconnecting_mid_request(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"disk": MiB}) as served:
        conn = NbdConnection(parse_nbd_uri(served.uri("disk")))
        served.provider.gate.clear()  # requests wait
        conn.sock.sendall(encode_request(Request(0, Cmd.READ, 1, 0, 65536)))
        conn.sock.sendall(encode_request(Request(0, Cmd.WRITE, 2, 0, 4096)) + b"x" * 100)  # data cut short
        wait_until(lambda: served.server.counters.requests >= 1, what="the read in flight")
        conn.sock.close()
        served.provider.gate.set()
        assert served.provider.disks["disk"].data[:4096] == bytes(4096)  # the cut write was not done
        assert run("nbdinfo", "--size", served.uri("disk")).stdout.strip() == str(MiB)
        assert served.server.counters.handler_failures == 0


def test_pipelined_requests_and_errors_through_our_client(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"disk": MiB}) as served:
        conn = NbdConnection(parse_nbd_uri(served.uri("disk")))
        try:
            assert conn.can_multi_conn and conn.can_fua and not conn.readonly
            data = os.urandom(3 * 65536)
            bufs = [memoryview(bytearray(65536)) for _ in range(3)]
            ops = [Op(Cmd.WRITE, 0, [memoryview(data)]), Op(Cmd.FLUSH)]
            ops += [Op(Cmd.READ, i * 65536, [bufs[i]]) for i in range(3)]
            ops.append(Op(Cmd.READ, MiB - 512, [memoryview(bytearray(1024))]))  # past the end
            ops.append(Op(Cmd.TRIM, 0, (), 0, 4096))  # not offered
            errors = conn.run(ops)
            assert errors == [0, 0, 0, 0, 0, NbdError.EINVAL, NbdError.EINVAL]
            assert b"".join(bytes(b) for b in bufs) == data
        finally:
            conn.close()
