"""pyaoe's vblade against Debian's aoetools (aoeping, aoecfg) over a veth pair between two network
namespaces, with Debian's vblade alongside for comparison, and the replies checked on the wire
(tshark and a packet socket): padded to 60 bytes, announced with version 1, jumbo sector counts,
sparse files and loop devices exported."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab, Link
from pyaoe.protocol import (
    SECTOR_SIZE,
    AtaArg,
    AtaCommand,
    AtaStatus,
    Command,
    ConfigArg,
    Frame,
    Header,
    MaskArg,
    ReserveArg,
    decode_frame,
    encode_frame,
    lba_register,
    parse_identify,
)
from support.packets import recv_frame
from support.target import PYAOE_TARGET, VBLADE, Listener, RunningTarget, is_announcement, start_target

pytestmark = [pytest.mark.interop, pytest.mark.netns]

AOEPING = "/usr/sbin/aoeping"
AOECFG = "/usr/sbin/aoecfg"
DEBIAN_VBLADE = "/usr/sbin/vblade"
SIGALRM_DEATH = -signal.SIGALRM
#: Long enough (>= 28 bytes) for Debian vblade's config replies to reach 60 bytes.
LONG_CONFIG = "a config string of at least 28 bytes"
MIB = 1 << 20
BROADCAST = b"\xff" * 6


@dataclass
class San:
    """A target end (``there``, in its own namespace) and an initiator end (``here``, in another)."""

    lab: Lab
    here: Link
    there: Link

    def run(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command at the initiator end."""
        return self.lab.run(self.here.netns, list(argv), timeout=timeout)

    def aoeping(self, *args: str, seconds: int = 5) -> subprocess.CompletedProcess[str]:
        return self.run(AOEPING, "-s", str(seconds), *args, self.here.ifname)

    def aoecfg(self, *args: str, wait: int = 3) -> subprocess.CompletedProcess[str]:
        return self.run(AOECFG, "-t", str(wait), *args, self.here.ifname)

    def target(self, *args: str, command: tuple[str, ...] = VBLADE, **kw: object) -> RunningTarget:
        return start_target(self.lab, self.there, list(args), listen=self.here, command=command, **kw)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def debian_vblade(
        self, shelf: int, slot: int, disk: Path, config: str | None = None
    ) -> Iterator[Listener]:
        """Run Debian's vblade for the with-block; yield a listener that heard its announcement.
        With ``config``, set its config string first (long enough, its replies reach aoeping)."""
        listener = Listener(self.here)
        proc = self.lab.popen(
            self.there.netns,
            [DEBIAN_VBLADE, str(shelf), str(slot), self.there.ifname, str(disk)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            listener.wait_for(lambda f: is_announcement(f, shelf, slot), 15)
            if config is not None:
                # aoecfg hears nothing back from vblade until the string is set: do not wait long.
                self.run(
                    AOECFG, "-c", "fset", "-s", config, "-t", "1", str(shelf), str(slot), self.here.ifname
                )
                listener.wait_for(lambda f: f[14] & 0x08 and f[19] == 1 and config.encode() in f, 5)
            yield listener
        finally:
            proc.kill()
            proc.wait()
            listener.close()


def _san(mtu: int) -> Iterator[San]:
    with Lab() as lab:
        initiator, target = lab.netns("aoein"), lab.netns("aoetg")
        here, there = lab.veth(initiator, target, mtu=mtu)
        yield San(lab, here, there)


@pytest.fixture(scope="module")
def san() -> Iterator[San]:
    yield from _san(1500)


@pytest.fixture(scope="module")
def jumbo() -> Iterator[San]:
    yield from _san(9000)


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(MIB))
    return path


def fields(output: str) -> dict[str, str]:
    """aoeping -I's `name: value` lines."""
    out = {}
    for line in output.splitlines():
        name, sep, value = line.partition(": ")
        if sep:
            out[name.strip()] = value.rstrip()
    return out


def hex_after(output: str, title: str) -> bytes:
    """The hex dump aoeping prints after ``title`` (-v: the config reply, -i: the IDENTIFY page)."""
    lines = output.splitlines()
    start = lines.index(title) + 1
    data = bytearray()
    for line in lines[start:]:
        words = line.split()
        if not words or not all(len(w) == 2 for w in words):
            break
        try:
            data += bytes.fromhex("".join(words))
        except ValueError:
            break
    return bytes(data)


# -- aoeping ------------------------------------------------------------------------------------
def test_aoeping_identify_fields_match_vblades_layout(san, disk, tmp_path):
    other = tmp_path / "other.img"
    other.write_bytes(bytes(MIB))
    host = socket.gethostname()
    with san.target("3", "7", san.there.ifname, str(disk)):
        ours = san.aoeping("-I", "3", "7")
    assert ours.returncode == 0, ours.stderr
    got = fields(ours.stdout)
    assert got["serial_number"] == f"3.7:{host}"[:20]
    assert got["firmware_rev"] == "pyaoe"
    assert got["model"] == "pyaoe AoE target"
    # Debian's vblade fills the same fields the same way (serial "shelf.slot:hostname").
    with san.debian_vblade(3, 8, other, config=LONG_CONFIG):
        theirs = san.aoeping("-I", "3", "8")
    assert theirs.returncode == 0, theirs.stderr
    assert fields(theirs.stdout)["serial_number"] == f"3.8:{host}"[:20]
    assert set(fields(theirs.stdout)) == set(got)


def test_aoeping_smart_read_data_is_refused_as_vblade_does(san, disk, tmp_path):
    other = tmp_path / "other.img"
    other.write_bytes(bytes(MIB))
    with san.target("3", "10", san.there.ifname, str(disk)):
        ours = san.aoeping("-S", "read_data", "3", "10")
    with san.debian_vblade(3, 11, other, config=LONG_CONFIG):
        theirs = san.aoeping("-S", "read_data", "3", "11")
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (1, "")
    assert ours.stderr.strip() == "Error: e3.10 does not support SMART"
    assert theirs.stderr.strip() == "Error: e3.11 does not support SMART"


def test_empty_config_string_pyaoe_answers_where_debian_vblade_is_never_heard(san, disk, tmp_path):
    """Debian's vblade sends 32-byte config replies; veth does not pad them and aoeping drops
    frames under 60 bytes, so it waits until -s expires. pyaoe pads every reply."""
    other = tmp_path / "other.img"
    other.write_bytes(bytes(MIB))
    with san.debian_vblade(3, 13, other) as listener:
        theirs = san.aoeping("3", "13", seconds=2)
        assert theirs.returncode == SIGALRM_DEATH, theirs
        # vblade did answer: short.
        reply = listener.wait_for(lambda f: f[14] & 0x08 and f[19] == 1 and f[20:24] != bytes(4), 5)
        assert len(reply) == 32
    with san.target("3", "12", san.there.ifname, str(disk)) as target:
        ours = san.aoeping("-v", "3", "12", seconds=2)
        assert ours.returncode == 0, ours
        assert "found e3.12 with mac" in ours.stdout
        reply = target.listener.wait_for(lambda f: f[14] & 0x08 and f[19] == 1 and f[20:24] != bytes(4), 5)
        assert len(reply) == 60


# -- aoecfg -------------------------------------------------------------------------------------
def test_aoecfg_read_set_test_prefix_fset(san, disk):
    with san.target("4", "2", san.there.ifname, str(disk)) as target:

        def cfg(ccmd: str, string: str | None = None, wait: int = 3) -> str:
            args = ["-c", ccmd, *(["-s", string] if string is not None else []), "4", "2"]
            result = san.aoecfg(*args, wait=wait)
            assert result.returncode == 0, result
            assert result.stderr == ""
            return result.stdout

        # An empty config string is still answered (an empty line), not silence.
        assert cfg("read") == "\n"
        assert cfg("test", "") == "\n"
        assert cfg("set", "rack-a") == "rack-a\n"
        assert cfg("read") == "rack-a\n"
        assert cfg("set", "rack-b") == "*badcfg*\n"
        assert cfg("read") == "rack-a\n"
        assert cfg("set", "rack-a") == "rack-a\n"
        assert cfg("test", "rack-a") == "rack-a\n"
        assert cfg("test", "rack-", wait=1) == ""
        assert cfg("test", "rack-ab", wait=1) == ""
        assert cfg("prefix", "rack") == "rack-a\n"
        assert cfg("prefix", "") == "rack-a\n"
        assert cfg("prefix", "rb", wait=1) == ""
        assert cfg("fset", "forced") == "forced\n"
        assert cfg("read") == "forced\n"
        # Debian's aoecfg aborts ("buffer overflow detected") above 1016 bytes ...
        big = "x" * 1016
        assert cfg("fset", big) == big + "\n"
        assert cfg("read") == big + "\n"
        # ... so the full 1024 goes out from a packet socket; aoecfg reads it back.
        full = bytes(range(33, 127)) * 10 + b"0123456789" * 8 + b"abcd"
        assert len(full) == 1024
        mac = decode_frame(target.announcements[0]).header.src
        reply = exchange(target.listener.sock, mac, 4, 2, ConfigArg(ccmd=4, config_string=full))  # type: ignore[union-attr]
        assert reply.arg.config_string == full  # type: ignore[union-attr]
        reply = exchange(target.listener.sock, mac, 4, 2, ConfigArg())  # type: ignore[union-attr]
        assert reply.arg.config_string == full  # type: ignore[union-attr]
        # (aoecfg prints at most 1016 bytes of it.)
        assert full.decode().startswith(cfg("read").rstrip("\n"))


def test_aoecfg_broadcast_hears_every_export_of_one_target(san, disk, tmp_path):
    second = tmp_path / "second.img"
    second.write_bytes(bytes(MIB))
    toml = tmp_path / "exports.toml"
    toml.write_text(
        f'[defaults]\nnetif = "{san.there.ifname}"\n'
        f'[[export]]\nshelf = 6\nslot = 1\nfile = "{disk}"\nconfig_string = "first"\n'
        f'[[export]]\nshelf = 6\nslot = 2\nfile = "{second}"\n'
    )
    with san.target("-c", str(toml), command=PYAOE_TARGET, exports=2):
        result = san.aoecfg(wait=2)
    assert result.returncode == 0, result
    assert sorted(result.stdout.splitlines()) == ["6.1\tfirst", "6.2\t"]


# -- jumbo frames --------------------------------------------------------------------------------
@pytest.mark.parametrize(("which", "sectors"), [("san", 2), ("jumbo", 17)])
def test_sector_count_follows_the_mtu(request, which, sectors, disk):
    network: San = request.getfixturevalue(which)
    with network.target("5", "1", network.there.ifname, str(disk)) as target:
        result = network.aoeping("-v", "5", "1")
        assert result.returncode == 0, result
        reply = hex_after(result.stdout, "config query response:")
        assert reply[28] == sectors
        assert decode_frame(target.announcements[0]).arg.sector_count == sectors  # type: ignore[union-attr]


def test_debian_vblade_reports_the_same_jumbo_sector_count(jumbo, disk):
    with jumbo.debian_vblade(5, 3, disk, config=LONG_CONFIG):
        result = jumbo.aoeping("-v", "5", "3")
    assert result.returncode == 0, result
    assert hex_after(result.stdout, "config query response:")[28] == 17


def test_a_full_jumbo_read_and_write_cross_the_wire(jumbo, disk):
    with jumbo.target("5", "4", jumbo.there.ifname, str(disk)) as target:
        sock = target.listener.sock  # type: ignore[union-attr]
        mac = decode_frame(target.announcements[0]).header.src
        data = bytes(range(256)) * 2 * 17
        reply = exchange(
            sock, mac, 5, 4, AtaArg(aflags=0x41, sector_count=17, cmd_status=0x34, lba=3, data=data)
        )
        assert reply.arg.cmd_status == AtaStatus.DRDY  # type: ignore[union-attr]
        reply = exchange(sock, mac, 5, 4, AtaArg(aflags=0x40, sector_count=17, cmd_status=0x24, lba=3))
        assert reply.arg.data[: len(data)] == data  # type: ignore[union-attr]
    assert disk.read_bytes()[3 * SECTOR_SIZE : 20 * SECTOR_SIZE] == data


# -- the wire ------------------------------------------------------------------------------------
_tag = iter(range(0x8000_1000, 0x8000_2000))


def exchange(sock, mac: bytes, shelf: int, slot: int, arg, timeout: float = 5.0) -> Frame:
    """Send one request from ``sock`` to the target and return its (decoded) reply."""
    command = {AtaArg: Command.ATA, ConfigArg: Command.QUERY_CONFIG, MaskArg: Command.MAC_MASK_LIST}.get(
        type(arg), Command.RESERVE_RELEASE
    )
    tag = next(_tag)
    header = Header(dst=mac, src=sock.mac, shelf=shelf, slot=slot, command=command, tag=tag)
    sock.send(encode_frame(Frame(header, arg)))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = recv_frame(sock, timeout=deadline - time.monotonic())
        if raw is not None and raw[14] & 0x08 and int.from_bytes(raw[20:24], "big") == tag:
            return decode_frame(raw)
    raise AssertionError(f"no reply to tag {tag:#x}")


class Tshark:
    """tshark decoding AoE frames live on an interface, one line of fields per frame."""

    FIELDS = (
        "frame.len",
        "eth.src",
        "eth.dst",
        "aoe.version",
        "aoe.response",
        "aoe.cmd",
        "aoe.tag",
        "aoe.error",
    )

    def __init__(self, lab: Lab, link: Link) -> None:
        argv = ["tshark", "-i", link.ifname, "-l", "-n", "-f", "ether proto 0x88a2", "-T", "fields"]
        for name in self.FIELDS:
            argv += ["-e", name]
        self.proc = lab.popen(link.netns, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.rows: list[dict[str, str]] = []
        self._pending = {self.proc.stdout.fileno(): b"", self.proc.stderr.fileno(): b""}  # type: ignore[union-attr]
        # tshark says "Capturing on" once the capture is live.
        self._wait(self.proc.stderr.fileno(), lambda line: "Capturing on" in line, "start capturing")  # type: ignore[union-attr]

    def _lines(self, fd: int, deadline: float) -> Iterator[str]:
        """Lines from ``fd`` as they come (own buffering: select() cannot see a file object's)."""
        while True:
            while b"\n" in self._pending[fd]:
                line, self._pending[fd] = self._pending[fd].split(b"\n", 1)
                yield line.decode(errors="replace")
            ready, _w, _x = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            self._pending[fd] += chunk

    def _wait(self, fd: int, predicate: Callable[[str], bool], what: str, timeout: float = 30.0) -> None:
        for line in self._lines(fd, time.monotonic() + timeout):
            if predicate(line):
                return
        self.close()
        raise AssertionError(f"tshark did not {what} in {timeout} s; rows so far: {self.rows}")

    def until(self, predicate: Callable[[dict[str, str]], bool]) -> list[dict[str, str]]:
        """Rows decoded so far, reading until one satisfies ``predicate``."""

        def record(line: str) -> bool:
            row = dict(zip(self.FIELDS, line.split("\t"), strict=False))
            self.rows.append(row)
            return bool(predicate(row))

        self._wait(self.proc.stdout.fileno(), record, "decode the expected frame")  # type: ignore[union-attr]
        return self.rows

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def test_every_reply_on_the_wire_is_padded_and_the_announcement_is_version_1(san, disk):
    tshark = Tshark(san.lab, san.here)
    try:
        with san.target("8", "1", san.there.ifname, str(disk)) as target:
            mac = decode_frame(target.announcements[0]).header.src
            assert san.aoecfg("-c", "read", "8", "1").stdout == "\n"
            assert san.aoeping("-I", "8", "1").returncode == 0
            assert san.aoeping("-S", "read_data", "8", "1").returncode == 1
            sock = target.listener.sock  # type: ignore[union-attr]
            # The short replies vblade would make: mask, reserve, errors, an out-of-range read.
            exchange(sock, mac, 8, 1, MaskArg())
            exchange(sock, mac, 8, 1, ReserveArg())
            out_of_range = AtaArg(sector_count=1, cmd_status=0x20, lba=lba_register(5000, False))
            assert exchange(sock, mac, 8, 1, out_of_range).arg.err_feature == 0x10  # type: ignore[union-attr]
            exchange(sock, mac, 8, 1, AtaArg(sector_count=0, cmd_status=AtaCommand.FLUSH_CACHE))
            last = exchange(sock, mac, 8, 1, ConfigArg())
            rows = tshark.until(lambda row: row["aoe.tag"] == f"0x{last.header.tag:08x}")
    finally:
        tshark.close()
    ours = [r for r in rows if r["eth.src"] == mac.hex(":") and r["aoe.response"] in ("1", "True")]
    assert len(ours) >= 10
    assert all(int(r["frame.len"]) >= 60 for r in ours), [r["frame.len"] for r in ours]
    assert all(r["aoe.version"] == "1" for r in ours)
    announcement = ours[0]
    assert announcement["eth.dst"] == "ff:ff:ff:ff:ff:ff"
    assert announcement["aoe.cmd"] == "1"
    assert int(announcement["aoe.tag"], 16) == 0


def test_with_a_mask_list_the_announcement_goes_unicast_to_each_allowed_mac(san, disk):
    allowed = [san.here.mac, bytes.fromhex("020000aa0001"), bytes.fromhex("020000aa0002")]
    masks = ",".join(mac.hex(":") for mac in allowed)
    with san.target("-m", masks, "8", "2", san.there.ifname, str(disk)) as target:
        listener = target.listener
        assert listener is not None
        # On veth a packet socket also hears frames addressed to other MACs.
        frames = [
            listener.wait_for(lambda f, m=mac: is_announcement(f, 8, 2) and f[:6] == m) for mac in allowed
        ]
        # The initiator allowed can talk to it; the announcement went to no one else.
        assert san.aoeping("8", "2").returncode == 0
        heard = [f for f in listener.frames if is_announcement(f, 8, 2)]
    assert {f[:6] for f in heard} == set(allowed)
    assert all(f[14] == 0x18 and len(f) >= 60 for f in frames)


# -- what is exported ----------------------------------------------------------------------------
def identify(san: San, shelf: int, slot: int) -> int:
    result = san.aoeping("-i", str(shelf), str(slot))
    assert result.returncode == 0, result
    return parse_identify(hex_after(result.stdout, "device identify response:")).sectors


def test_a_sparse_file_beyond_lba28_is_exported_and_stays_sparse(san, tmp_path):
    sparse = tmp_path / "sparse.img"
    sectors = (1 << 32) + 8  # 2 TiB and a bit: beyond 28 and 32 bits of LBA
    with open(sparse, "wb") as f:
        f.truncate(sectors * SECTOR_SIZE)
    with san.target("9", "1", san.there.ifname, str(sparse)) as target:
        assert target.sectors == sectors
        assert identify(san, 9, 1) == sectors
        sock = target.listener.sock  # type: ignore[union-attr]
        mac = decode_frame(target.announcements[0]).header.src
        data = b"end of a sparse disk".ljust(SECTOR_SIZE, b".")
        lba = sectors - 1
        write = exchange(
            sock, mac, 9, 1, AtaArg(aflags=0x41, sector_count=1, cmd_status=0x34, lba=lba, data=data)
        )
        assert write.arg.cmd_status == AtaStatus.DRDY  # type: ignore[union-attr]
        reply = exchange(sock, mac, 9, 1, AtaArg(aflags=0x40, sector_count=1, cmd_status=0x24, lba=lba))
        assert reply.arg.data[:SECTOR_SIZE] == data  # type: ignore[union-attr]
    with open(sparse, "rb") as f:
        f.seek(lba * SECTOR_SIZE)
        assert f.read(SECTOR_SIZE) == data
    assert os.stat(sparse).st_blocks * 512 < 16 * MIB, "the file must stay sparse"


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    backing = tmp_path / "loop.img"
    backing.write_bytes(bytes(4 * MIB))
    device = subprocess.run(
        ["losetup", "-f", "--show", str(backing)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield device, backing
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def test_a_loop_device_is_exported_with_offset_and_length(san, loop_device):
    device, backing = loop_device
    with san.target("-o", "16", "-l", "100", "9", "2", san.there.ifname, device) as target:
        assert target.sectors == 100
        assert identify(san, 9, 2) == 100
        sock = target.listener.sock  # type: ignore[union-attr]
        mac = decode_frame(target.announcements[0]).header.src
        data = b"through a loop device".ljust(2 * SECTOR_SIZE, b"!")
        write = AtaArg(aflags=0x01, sector_count=2, cmd_status=0x30, lba=lba_register(98, False), data=data)
        assert exchange(sock, mac, 9, 2, write).arg.cmd_status == AtaStatus.DRDY  # type: ignore[union-attr]
        past = AtaArg(
            aflags=0x01, sector_count=1, cmd_status=0x30, lba=lba_register(100, False), data=data[:512]
        )
        assert exchange(sock, mac, 9, 2, past).arg.err_feature == 0x10  # type: ignore[union-attr]
        flush = exchange(sock, mac, 9, 2, AtaArg(cmd_status=AtaCommand.FLUSH_CACHE_EXT))
        assert flush.arg.cmd_status == AtaStatus.DRDY  # type: ignore[union-attr]
    subprocess.run(["blockdev", "--flushbufs", device], check=True)
    content = backing.read_bytes()
    assert content[(16 + 98) * SECTOR_SIZE : (16 + 100) * SECTOR_SIZE] == data
    assert content.count(0) == len(content) - len(data) + data.count(0), "nothing else was written"


def test_a_read_only_export_refuses_writes_on_the_wire(san, disk):
    with san.target("-r", "9", "3", san.there.ifname, str(disk)) as target:
        assert target.mode == "O_RDONLY"
        sock = target.listener.sock  # type: ignore[union-attr]
        mac = decode_frame(target.announcements[0]).header.src
        write = AtaArg(
            aflags=0x01, sector_count=1, cmd_status=0x30, lba=lba_register(0, False), data=b"w" * 512
        )
        reply = exchange(sock, mac, 9, 3, write)
        assert (reply.arg.cmd_status, reply.arg.err_feature) == (0x41, 0x04)  # type: ignore[union-attr]
    assert disk.read_bytes() == bytes(MIB)


def test_an_mtu_change_is_seen_by_the_next_config_query_even_a_short_one(disk):
    """The Linux initiator's config query is 32 bytes and veth does not pad it: it must still
    make the target re-read its MTU (vblade recomputes the sector count on every query)."""
    with Lab() as lab:
        initiator, target_ns = lab.netns("aoein"), lab.netns("aoetg")
        here, there = lab.veth(initiator, target_ns, mtu=1500)
        network = San(lab, here, there)
        with network.target("7", "1", there.ifname, str(disk)) as target:
            sock = target.listener.sock  # type: ignore[union-attr]
            mac = decode_frame(target.announcements[0]).header.src
            assert exchange(sock, mac, 7, 1, ConfigArg()).arg.sector_count == 2  # type: ignore[union-attr]
            here.set_mtu(9000)
            there.set_mtu(9000)
            tag = 0x0000_4242  # the kernel's tags keep bit 31 clear
            query = Header(
                dst=BROADCAST, src=sock.mac, shelf=0xFFFF, slot=0xFF, command=Command.QUERY_CONFIG, tag=tag
            )
            short = encode_frame(Frame(query, ConfigArg()))[:32]
            sock.send(short)
            reply = target.listener.wait_for(lambda f: f[14] & 0x08 and f[20:24] == tag.to_bytes(4, "big"))  # type: ignore[union-attr]
            assert decode_frame(reply).arg.sector_count == 17  # type: ignore[union-attr]
            data = bytes(17 * SECTOR_SIZE)
            write = exchange(
                sock, mac, 7, 1, AtaArg(aflags=0x41, sector_count=17, cmd_status=0x34, lba=0, data=data)
            )
            assert write.arg.cmd_status == AtaStatus.DRDY  # type: ignore[union-attr]
            # A full jumbo read is built in the receive buffer: it used to outgrow it and end the target.
            read = exchange(sock, mac, 7, 1, AtaArg(aflags=0x40, sector_count=17, cmd_status=0x24, lba=0))
            assert read.arg.cmd_status == AtaStatus.DRDY  # type: ignore[union-attr]
            assert len(read.arg.data) == 17 * SECTOR_SIZE  # type: ignore[union-attr]
            assert target.alive()


def test_pyaoe_target_serves_one_export_on_two_interfaces(disk):
    with Lab() as lab:
        initiator, target_ns = lab.netns("aoein"), lab.netns("aoetg")
        here_a, there_a = lab.veth(initiator, target_ns)
        here_b, there_b = lab.veth(initiator, target_ns, mtu=9000)
        other_side = Listener(here_b)
        try:
            netifs = f"{there_a.ifname},{there_b.ifname}"
            with start_target(
                lab, there_a, ["10", "1", netifs, str(disk)], listen=here_a, command=PYAOE_TARGET
            ):
                other_side.wait_for(lambda f: is_announcement(f, 10, 1))
                for here, sectors in ((here_a, 2), (here_b, 17)):
                    result = lab.run(
                        initiator, [AOEPING, "-v", "-s", "5", "10", "1", here.ifname], timeout=30
                    )
                    assert result.returncode == 0, result
                    assert hex_after(result.stdout, "config query response:")[28] == sectors
        finally:
            other_side.close()
