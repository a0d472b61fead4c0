"""Hypothesis strategies for hostile AoE frames, built byte by byte so that they can say what the
codec refuses to encode: lying counts, config strings over 1024 bytes, bad directives.

Requests for the target (any flags, every command and sub-command, absurd sector counts and
LBAs, truncated and oversized) and responses for the initiator, then random mutations.
"""

from __future__ import annotations

import os

from hypothesis import strategies as st

from pyaoe.protocol import BROADCAST_MAC, BROADCAST_SHELF, BROADCAST_SLOT, ETH_P_AOE, SECTOR_SIZE

__all__ = [
    "examples",
    "header",
    "request_frames",
    "mutated",
    "ata_body",
    "config_body",
    "mask_body",
    "reserve_body",
]


def examples(default: int) -> int:
    """How many examples a fuzzer runs: ``default``, or PYAOE_FUZZ_EXAMPLES for a long campaign."""
    return int(os.environ.get("PYAOE_FUZZ_EXAMPLES", default))


def header(
    dst: bytes, src: bytes, verflags: int, error: int, shelf: int, slot: int, command: int, tag: int
) -> bytes:
    return (
        dst
        + src
        + ETH_P_AOE.to_bytes(2, "big")
        + bytes((verflags, error))
        + shelf.to_bytes(2, "big")
        + bytes((slot, command))
        + tag.to_bytes(4, "big")
    )


def _count(actual: int, limit: int) -> st.SearchStrategy[int]:
    """A count field: the truth most of the time, else a lie up to ``limit``."""
    return st.one_of(st.just(actual), st.just(actual), st.integers(0, limit))


#: Sector data: a different pattern for each starting byte.
_PATTERN = bytes(range(256)) * 40
sector_counts = st.one_of(st.sampled_from([0, 1, 2, 16, 17, 18, 255]), st.integers(0, 255))
lbas = st.one_of(
    st.integers(0, 70),
    st.sampled_from([(1 << 28) - 1, 1 << 28, (1 << 32) - 1, (1 << 48) - 1, 0xE0000000, 0xE000003F]),
    st.integers(0, (1 << 48) - 1),
)
ata_commands = st.one_of(
    st.sampled_from([0x20, 0x24, 0x30, 0x34, 0xEC, 0xE5, 0xE7, 0xEA, 0xB0, 0xEF]), st.integers(0, 0xFF)
)


@st.composite
def ata_body(draw: st.DrawFn) -> bytes:
    count = draw(sector_counts)
    arg = (
        bytes((draw(st.integers(0, 0xFF)), draw(st.integers(0, 0xFF)), count, draw(ata_commands)))
        + draw(lbas).to_bytes(6, "little")
        + draw(st.sampled_from([b"\0\0", b"\0\1", b"\xff\xff"]))
    )
    sectors = draw(st.one_of(st.just(count), st.integers(0, 18)))
    seed = draw(st.integers(0, 0xFF))
    data = _PATTERN[seed : seed + sectors * SECTOR_SIZE]
    cut = draw(st.one_of(st.just(0), st.integers(0, SECTOR_SIZE)))
    return arg + data[: len(data) - cut]


config_strings = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([1023, 1024, 1025, 1400]).map(lambda n: b"c" * n),
)


@st.composite
def config_body(draw: st.DrawFn) -> bytes:
    text = draw(config_strings)
    version = draw(st.sampled_from([0, 1, 2, 15]))
    ccmd = draw(st.integers(0, 15))
    length = draw(st.one_of(st.just(len(text)), st.sampled_from([1024, 1025, 0xFFFF]), st.integers(0, 2000)))
    return (
        draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
        + draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
        + bytes((draw(st.integers(0, 0xFF)), version << 4 | ccmd))
        + length.to_bytes(2, "big")
        + text
    )


macs = st.one_of(
    st.sampled_from([b"\x02" + bytes([i]) * 5 for i in range(4)]), st.binary(min_size=6, max_size=6)
)


@st.composite
def mask_body(draw: st.DrawFn) -> bytes:
    directives = draw(
        st.lists(st.tuples(st.one_of(st.integers(0, 3), st.integers(0, 0xFF)), macs), max_size=40)
    )
    body = bytes(
        (
            draw(st.integers(0, 0xFF)),
            draw(st.one_of(st.integers(0, 2), st.integers(0, 0xFF))),
            draw(st.integers(0, 0xFF)),
            draw(_count(len(directives), 0xFF)),
        )
    )
    return body + b"".join(bytes((draw(st.integers(0, 0xFF)), dcmd)) + mac for dcmd, mac in directives)


@st.composite
def reserve_body(draw: st.DrawFn) -> bytes:
    listed = draw(st.lists(macs, max_size=40))
    rcmd = draw(st.one_of(st.integers(0, 3), st.integers(0, 0xFF)))
    return bytes((rcmd, draw(_count(len(listed), 0xFF)))) + b"".join(listed)


bodies_by_command = {
    0: ata_body(),
    1: config_body(),
    2: mask_body(),
    3: reserve_body(),
}


@st.composite
def mutated(draw: st.DrawFn, frame: bytes) -> bytes:
    """``frame`` with a few bytes changed, maybe cut short or grown past any MTU."""
    out = bytearray(frame)
    for _ in range(draw(st.integers(0, 3))):
        if out:
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 0xFF))
    shape = draw(st.integers(0, 5))
    if shape == 0:
        out = out[: draw(st.integers(0, len(out)))]
    elif shape == 1:
        out += bytes([draw(st.integers(0, 0xFF))]) * draw(
            st.sampled_from([1, 100, 9100 - len(out) if len(out) < 9100 else 1])
        )
    return bytes(out)


@st.composite
def request_frames(
    draw: st.DrawFn, target_mac: bytes, sources: tuple[bytes, ...], addresses: tuple[tuple[int, int], ...]
) -> bytes:
    """A request as a hostile or careless host sends it to a target."""
    shelf, slot = draw(
        st.one_of(
            st.sampled_from(addresses),
            st.sampled_from(
                [
                    (BROADCAST_SHELF, BROADCAST_SLOT),
                    (addresses[0][0], BROADCAST_SLOT),
                    (BROADCAST_SHELF, addresses[0][1]),
                ]
            ),
            st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFF)),
        )
    )
    command = draw(st.one_of(st.integers(0, 3), st.integers(0, 3), st.integers(0, 0xFF)))
    verflags = draw(st.one_of(st.just(0x10), st.just(0x10), st.integers(0, 0xFF)))
    head = header(
        draw(st.sampled_from([target_mac, target_mac, BROADCAST_MAC, b"\x02\x99\x99\x99\x99\x99"])),
        draw(st.sampled_from(sources)),
        verflags,
        draw(st.one_of(st.just(0), st.integers(0, 0xFF))),
        shelf,
        slot,
        command,
        draw(st.integers(0, 0xFFFFFFFF)),
    )
    body = draw(bodies_by_command.get(command, st.binary(max_size=64)))
    frame = head + body
    if draw(st.integers(0, 3)) == 0:
        frame = draw(mutated(frame))
    return frame
