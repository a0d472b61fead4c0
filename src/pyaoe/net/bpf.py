"""pyaoe.net.bpf: classic BPF programs that keep unwanted frames out of an AoE packet socket.

A socket bound to EtherType 0x88A2 also receives frames sent to other MACs (PACKET_OTHERHOST),
so both filters check the destination MAC as well as the R flag (and the target's shelf.slot).
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from pyaoe.protocol.constants import BROADCAST_SHELF, BROADCAST_SLOT, ETH_P_AOE

__all__ = [
    "BpfInsn",
    "BpfProgram",
    "target_filter",
    "initiator_filter",
    "pack_program",
    "attach_filter",
    "detach_filter",
]

# <linux/filter.h> opcodes used here.
BPF_LD_W_ABS = 0x20
BPF_LD_H_ABS = 0x28
BPF_LD_B_ABS = 0x30
BPF_JEQ_K = 0x15
BPF_JSET_K = 0x45
BPF_RET_K = 0x06
_SO_ATTACH_FILTER = 26
_SO_DETACH_FILTER = 27
#: Keep the whole frame (the return value is how many bytes to keep).
_ACCEPT = 0xFFFFFFFF
_DROP = 0
_SOCK_FILTER = struct.Struct("=HBBI")
# struct sock_fprog: unsigned short len, then a pointer (native alignment pads between).
_SOCK_FPROG = struct.Struct("@HP")

# Offsets in a whole frame (Ethernet header included).
_OFF_DST = 0
_OFF_TYPE = 12
_OFF_VERFLAGS = 14
_OFF_SHELF = 16
_OFF_SLOT = 18
_FLAG_RESPONSE = 0x08


@dataclass(frozen=True, slots=True)
class BpfInsn:
    """One struct sock_filter: opcode, jump-if-true and jump-if-false offsets, constant."""

    code: int
    jt: int
    jf: int
    k: int


BpfProgram = tuple[BpfInsn, ...]

# A program being assembled: instructions whose jump targets are label names (None: the next
# instruction), and label names standing alone.
_Item = tuple[int, str | None, str | None, int] | str


def _assemble(items: Sequence[_Item]) -> BpfProgram:
    labels: dict[str, int] = {}
    position = 0
    for item in items:
        if isinstance(item, str):
            labels[item] = position
        else:
            position += 1
    program = []
    position = 0
    for item in items:
        if isinstance(item, str):
            continue
        code, jt, jf, k = item
        position += 1
        # Jumps count from the instruction after this one.
        t = labels[jt] - position if jt else 0
        f = labels[jf] - position if jf else 0
        if not (0 <= t <= 255 and 0 <= f <= 255):
            raise ValueError("BPF jumps go forward at most 255 instructions")
        program.append(BpfInsn(code, t, f, k))
    return tuple(program)


def _mac_words(mac: bytes) -> tuple[int, int]:
    if len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes, not {len(mac)}")
    return int.from_bytes(mac[:4], "big"), int.from_bytes(mac[4:], "big")


def _addressed_to(mac: bytes) -> list[_Item]:
    """Jump to "addr_ok" when the destination is ``mac`` or broadcast, else to "drop"."""
    high, low = _mac_words(mac)
    return [
        (BPF_LD_W_ABS, None, None, _OFF_DST),
        (BPF_JEQ_K, None, "bcast", high),
        (BPF_LD_H_ABS, None, None, _OFF_DST + 4),
        (BPF_JEQ_K, "addr_ok", "bcast", low),
        "bcast",
        (BPF_LD_W_ABS, None, None, _OFF_DST),
        (BPF_JEQ_K, None, "drop", 0xFFFFFFFF),
        (BPF_LD_H_ABS, None, None, _OFF_DST + 4),
        (BPF_JEQ_K, "addr_ok", "drop", 0xFFFF),
        "addr_ok",
    ]


def target_filter(mac: bytes, shelf: int | None = None, slot: int | None = None) -> BpfProgram:
    """Accept AoE requests (R clear) to ``mac`` or broadcast and, when given, to our shelf
    (or 0xFFFF) and slot (or 0xFF), as vblade's filter does (plus the MAC check)."""
    if shelf is not None and not 0 <= shelf <= 0xFFFF:
        raise ValueError(f"shelf {shelf} out of range")
    if slot is not None and not 0 <= slot <= 0xFF:
        raise ValueError(f"slot {slot} out of range")
    items: list[_Item] = [
        (BPF_LD_H_ABS, None, None, _OFF_TYPE),
        (BPF_JEQ_K, None, "drop", ETH_P_AOE),
        (BPF_LD_B_ABS, None, None, _OFF_VERFLAGS),
        (BPF_JSET_K, "drop", None, _FLAG_RESPONSE),
        *_addressed_to(mac),
    ]
    if shelf is not None:
        items += [
            (BPF_LD_H_ABS, None, None, _OFF_SHELF),
            (BPF_JEQ_K, "shelf_ok", None, shelf),
            (BPF_JEQ_K, "shelf_ok", "drop", BROADCAST_SHELF),
            "shelf_ok",
        ]
    if slot is not None:
        items += [
            (BPF_LD_B_ABS, None, None, _OFF_SLOT),
            (BPF_JEQ_K, "accept", None, slot),
            (BPF_JEQ_K, "accept", "drop", BROADCAST_SLOT),
        ]
    items += ["accept", (BPF_RET_K, None, None, _ACCEPT), "drop", (BPF_RET_K, None, None, _DROP)]
    return _assemble(items)


def initiator_filter(mac: bytes) -> BpfProgram:
    """Accept AoE responses (R set) to ``mac`` or broadcast (vblade announces by broadcast)."""
    return _assemble(
        [
            (BPF_LD_H_ABS, None, None, _OFF_TYPE),
            (BPF_JEQ_K, None, "drop", ETH_P_AOE),
            (BPF_LD_B_ABS, None, None, _OFF_VERFLAGS),
            (BPF_JSET_K, None, "drop", _FLAG_RESPONSE),
            *_addressed_to(mac),
            (BPF_RET_K, None, None, _ACCEPT),
            "drop",
            (BPF_RET_K, None, None, _DROP),
        ]
    )


def pack_program(program: Sequence[BpfInsn]) -> bytes:
    """The program as an array of struct sock_filter."""
    return b"".join(_SOCK_FILTER.pack(i.code, i.jt, i.jf, i.k) for i in program)


def attach_filter(sock: socket.socket, program: Sequence[BpfInsn]) -> None:
    """Attach ``program`` to ``sock`` (SO_ATTACH_FILTER); the kernel copies it."""
    if not program:
        raise ValueError("an empty BPF program")
    array = ctypes.create_string_buffer(pack_program(program))
    fprog = _SOCK_FPROG.pack(len(program), ctypes.addressof(array))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


def detach_filter(sock: socket.socket) -> None:
    """Remove the socket's filter (SO_DETACH_FILTER)."""
    sock.setsockopt(socket.SOL_SOCKET, _SO_DETACH_FILTER, 0)
