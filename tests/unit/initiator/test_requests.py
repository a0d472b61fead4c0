"""Requests: byte ranges to sectors, read-modify-write edges, ordering of overlapping requests."""

from __future__ import annotations

import pytest

from pyaoe.initiator.address import DeviceAddress
from pyaoe.initiator.device import Device
from pyaoe.initiator.requests import Request, RequestKind, register_request

DEVICE = Device(DeviceAddress(1, 0), minor=0)


def request(kind: RequestKind, offset: int, length: int, rid: int = 1) -> Request:
    return Request(rid, kind, DEVICE, offset, length)


@pytest.mark.parametrize(
    ("offset", "length", "lba", "nsect", "skip"),
    [
        (0, 512, 0, 1, 0),
        (0, 1, 0, 1, 0),
        (511, 2, 0, 2, 511),
        (1024, 4096, 2, 8, 0),
        (1000, 0, 1, 0, 488),
    ],
)
def test_byte_ranges_become_whole_sectors(offset: int, length: int, lba: int, nsect: int, skip: int) -> None:
    r = request(RequestKind.READ, offset, length)
    assert (r.lba, r.nsect, r.skip) == (lba, nsect, skip)
    assert len(r.buf) == nsect * 512
    assert r.has_frames_to_send == (nsect > 0)


def test_aligned_write_needs_no_edge_reads() -> None:
    r = request(RequestKind.WRITE, 512, 1024)
    r.set_write_data(b"x" * 1024)
    assert r.edges == [] and r.has_frames_to_send


def test_unaligned_write_reads_both_edges_first_then_merges_them() -> None:
    r = request(RequestKind.WRITE, 100, 1000)  # sectors 0-2, user bytes 100..1099
    r.set_write_data(b"U" * 1000)
    assert r.edges == [0, 2] and r.next_lba == r.end_lba  # nothing written before the edges
    r.edges.clear()  # (the data path sends them)
    r.merge_edge(0, b"A" * 512)
    assert r.next_lba == r.end_lba
    r.merge_edge(2, b"C" * 512)
    assert r.next_lba == r.lba and r.has_frames_to_send
    assert bytes(r.buf) == b"A" * 100 + b"U" * 1000 + b"C" * (1536 - 1100)


def test_write_inside_one_sector_reads_it_once() -> None:
    r = request(RequestKind.WRITE, 10, 20)
    r.set_write_data(b"u" * 20)
    assert r.edges == [0]
    r.edges.clear()
    r.merge_edge(0, bytes(range(256)) * 2)
    old = bytes(range(256)) * 2
    assert bytes(r.buf) == old[:10] + b"u" * 20 + old[30:]


def test_write_ending_on_a_sector_boundary_reads_only_the_head() -> None:
    r = request(RequestKind.WRITE, 256, 768)
    r.set_write_data(b"u" * 768)
    assert r.edges == [0]


def test_overlapping_requests_wait_unless_both_read() -> None:
    active: dict[int, Request] = {}
    w1 = request(RequestKind.WRITE, 0, 4096, rid=1)
    r2 = request(RequestKind.READ, 2048, 512, rid=2)
    r3 = request(RequestKind.READ, 2048, 512, rid=3)
    w4 = request(RequestKind.WRITE, 8192, 512, rid=4)
    f5 = request(RequestKind.FLUSH, 0, 0, rid=5)
    w6 = request(RequestKind.WRITE, 0, 512, rid=6)
    for r in (w1, r2, r3, w4, f5, w6):
        register_request(active, r)
    assert (r2.waiting, r3.waiting) == (1, 1)  # both wait for the write, not for each other
    assert w4.waiting == 0  # no overlap
    assert f5.waiting == 2  # every earlier write
    assert w6.waiting == 1  # only w1 overlaps it; a flush does not hold later writes
    assert w1.dependents == [r2, r3, f5, w6]
