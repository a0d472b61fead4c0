"""pyaoe.net over a real veth pair between two network namespaces: frames go through, the
target and initiator BPF filters keep out what they must, and interface facts are right."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pyaoe.initiator import parse_iflist
from pyaoe.lab.netns import Lab, Link, in_netns
from pyaoe.net import (
    NoSuchInterfaceError,
    PacketSocket,
    aoe_interfaces,
    initiator_filter,
    interface_info,
    target_filter,
)
from pyaoe.protocol import BROADCAST_MAC, ConfigArg, Frame, Header, HeaderFlag, encode_frame
from support.packets import recv_frame

pytestmark = pytest.mark.netns

OTHER_MAC = bytes.fromhex("02deadbeef01")


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Lab, Link, Link]]:
    with Lab() as lab:
        ns_a, ns_b = lab.netns("neta"), lab.netns("netb")
        a, b = lab.veth(ns_a, ns_b)
        yield lab, a, b


def open_socket(link: Link, **kw: object) -> PacketSocket:
    with in_netns(link.netns):
        return PacketSocket(link.ifname, **kw)  # type: ignore[arg-type]


def aoe(dst: bytes, src: bytes, tag: int, *, shelf: int = 5, slot: int = 3, response: bool = False) -> bytes:
    flags = HeaderFlag.RESPONSE if response else 0
    header = Header(dst=dst, src=src, shelf=shelf, slot=slot, command=1, tag=tag, flags=int(flags))
    return encode_frame(Frame(header, ConfigArg()))


def tags_until(sock: PacketSocket, last_tag: int, deadline: float = 5.0) -> list[int]:
    """Tags of the frames received until the one tagged ``last_tag`` (a sentinel that passes)."""
    tags: list[int] = []
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        data = recv_frame(sock, timeout=end - time.monotonic())
        if data is None:
            break
        tags.append(int.from_bytes(data[20:24], "big"))
        if tags[-1] == last_tag:
            return tags
    raise AssertionError(f"sentinel tag {last_tag:#x} never arrived; got {[hex(t) for t in tags]}")


def test_frames_cross_the_pair_both_ways(pair):
    _lab, a, b = pair
    with open_socket(a) as sa, open_socket(b) as sb:
        assert sa.mac == a.mac and sb.mac == b.mac
        request = aoe(sb.mac, sa.mac, 0x80000001)
        assert sa.send(request) == len(request) == 60
        buf = bytearray(2048)
        assert sb.wait_readable(5)
        n = sb.recv_into(buf)
        assert bytes(buf[:n]) == request
        reply = aoe(sa.mac, sb.mac, 0x80000001, response=True)
        sb.send(reply)
        assert recv_frame(sa, timeout=5) == reply
        # A socket bound to one EtherType does not hear its own outgoing frames.
        assert not sa.wait_readable(0.2)


def test_target_filter_passes_only_requests_for_us(pair):
    _lab, a, b = pair
    with (
        open_socket(a) as sa,
        open_socket(b, bpf_program=target_filter(b.mac, 5, 3)) as filtered,
        open_socket(b) as plain,
    ):
        us = filtered.mac
        other_type = bytearray(aoe(us, sa.mac, 0x102))
        other_type[12:14] = b"\x08\x00"
        frames = [
            (aoe(us, sa.mac, 0x101), True),
            (bytes(other_type), False),
            (aoe(OTHER_MAC, sa.mac, 0x103), False),
            (aoe(us, sa.mac, 0x104, response=True), False),
            (aoe(us, sa.mac, 0x105, shelf=6), False),
            (aoe(us, sa.mac, 0x106, slot=4), False),
            (aoe(BROADCAST_MAC, sa.mac, 0x107, shelf=0xFFFF, slot=0xFF), True),
            (aoe(us, sa.mac, 0x108, slot=0xFF), True),
            (aoe(BROADCAST_MAC, sa.mac, 0x109, shelf=0xFFFF), True),
        ]
        for data, _passes in frames:
            sa.send(data)
        sentinel = 0x1FF
        sa.send(aoe(us, sa.mac, sentinel))
        wanted = [int.from_bytes(d[20:24], "big") for d, passes in frames if passes]
        assert tags_until(filtered, sentinel) == [*wanted, sentinel]
        # Without the filter the same socket type hears the frames for other MACs too.
        heard = tags_until(plain, sentinel)
        assert 0x103 in heard and 0x104 in heard and 0x102 not in heard


def test_initiator_filter_passes_only_responses_for_us(pair):
    _lab, a, b = pair
    with open_socket(a) as sa, open_socket(b, bpf_program=initiator_filter(b.mac)) as filtered:
        us = filtered.mac
        frames = [
            (aoe(us, sa.mac, 0x201, response=True), True),
            (aoe(us, sa.mac, 0x202), False),
            (aoe(OTHER_MAC, sa.mac, 0x203, response=True), False),
            (aoe(BROADCAST_MAC, sa.mac, 0x204, response=True), True),
            (aoe(us, sa.mac, 0x205, shelf=0x1234, slot=0x77, response=True), True),
        ]
        for data, _passes in frames:
            sa.send(data)
        sentinel = 0x2FF
        sa.send(aoe(us, sa.mac, sentinel, response=True))
        wanted = [int.from_bytes(d[20:24], "big") for d, passes in frames if passes]
        assert tags_until(filtered, sentinel) == [*wanted, sentinel]


def test_a_socket_hears_only_its_own_interface():
    with Lab() as lab:
        ns_a, ns_b = lab.netns("neta"), lab.netns("netb")
        a1, b1 = lab.veth(ns_a, ns_b)
        a2, b2 = lab.veth(ns_a, ns_b)
        with open_socket(a1) as s1, open_socket(a2) as s2, open_socket(b1) as r1, open_socket(b2) as r2:
            s2.send(aoe(r2.mac, s2.mac, 0x302))
            s1.send(aoe(r1.mac, s1.mac, 0x301))
            assert tags_until(r1, 0x301) == [0x301]
            assert tags_until(r2, 0x302) == [0x302]


def test_interface_info_in_a_namespace(pair):
    lab, _a, b = pair
    b.set_mtu(4200)
    try:
        with in_netns(b.netns):
            info = interface_info(b.ifname)
            assert [i.name for i in aoe_interfaces()] == [b.ifname]
            assert aoe_interfaces(parse_iflist(f"lo, {b.ifname}")) == [info]
            assert aoe_interfaces(["lo", "eth9"]) == []
        assert (info.mac, info.mtu, info.up, info.ethernet, info.loopback) == (b.mac, 4200, True, True, False)
        # A process that entered only the network namespace (its /sys is still ours) sees the same.
        code = (
            "import json, sys; from pyaoe.net import interface_info as f; i = f(sys.argv[1]);"
            "print(json.dumps([i.index, i.mac.hex(), i.mtu]))"
        )
        out = lab.run(b.netns, [sys.executable, "-c", code, b.ifname], check=True).stdout
        assert json.loads(out) == [info.index, b.mac.hex(), 4200]
        with open_socket(b) as sock:
            assert sock.mtu == 4200
            b.set_mtu(9000)
            assert sock.refresh_mtu() == 9000 == sock.mtu
    finally:
        b.set_mtu(1500)


def test_missing_interface_is_a_clear_error(pair):
    _lab, a, _b = pair
    with pytest.raises(NoSuchInterfaceError, match="no such interface: nosuch0"):
        interface_info("nosuch0")
    # The veth end exists only inside its namespace.
    with pytest.raises(OSError, match=f"no such interface: {a.ifname}"):
        PacketSocket(a.ifname)
    proc = subprocess.run(
        [sys.executable, "-c", "from pyaoe.net import interface_info; interface_info('nosuch0')"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "no such interface: nosuch0" in proc.stderr
