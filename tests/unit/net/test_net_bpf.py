"""The BPF programs of pyaoe.net.bpf, run by a small classic-BPF interpreter against a Python
statement of what each filter must accept (the real kernel runs them in tests/integration)."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from pyaoe.net.bpf import (
    BPF_JEQ_K,
    BPF_JSET_K,
    BPF_LD_B_ABS,
    BPF_LD_H_ABS,
    BPF_LD_W_ABS,
    BPF_RET_K,
    BpfInsn,
    initiator_filter,
    pack_program,
    target_filter,
)

OURS = bytes.fromhex("02aabbccddee")
BCAST = b"\xff" * 6


def run(program: tuple[BpfInsn, ...], frame: bytes) -> bool:
    """Classic BPF semantics for the opcodes pyaoe uses; an out-of-bounds load drops."""
    acc = 0
    pc = 0
    sizes = {BPF_LD_W_ABS: 4, BPF_LD_H_ABS: 2, BPF_LD_B_ABS: 1}
    while True:
        insn = program[pc]
        pc += 1
        if insn.code in sizes:
            size = sizes[insn.code]
            if insn.k + size > len(frame):
                return False
            acc = int.from_bytes(frame[insn.k : insn.k + size], "big")
        elif insn.code == BPF_JEQ_K:
            pc += insn.jt if acc == insn.k else insn.jf
        elif insn.code == BPF_JSET_K:
            pc += insn.jt if acc & insn.k else insn.jf
        elif insn.code == BPF_RET_K:
            return insn.k != 0
        else:
            raise AssertionError(f"unexpected opcode {insn.code:#x}")


def frame(dst: bytes, ethertype: int, verflags: int, shelf: int, slot: int, length: int = 60) -> bytes:
    head = dst + bytes(6) + struct.pack("!HBBHBB", ethertype, verflags, 0, shelf, slot, 1)
    return (head + bytes(max(0, length - len(head))))[:length]


dsts = st.sampled_from(
    [
        OURS,
        BCAST,
        bytes.fromhex("02aabbccddef"),
        bytes.fromhex("02aabbcc0000"),
        bytes.fromhex("ffffffff0000"),
        bytes.fromhex("0000ccddeeff"),
    ]
)
types = st.sampled_from([0x88A2, 0x0800, 0x88A3])
shelves = st.sampled_from([0, 1, 7, 0xFFFF, 0xFFFE])
slots = st.sampled_from([0, 1, 9, 0xFF])


@given(dsts, types, st.integers(0, 255), shelves, slots, st.integers(0, 80))
def test_target_filter_matches_the_rule(dst, ethertype, verflags, shelf, slot, length):
    data = frame(dst, ethertype, verflags, shelf, slot, length)
    want = (
        length >= 19
        and ethertype == 0x88A2
        and not verflags & 0x08
        and dst in (OURS, BCAST)
        and shelf in (7, 0xFFFF)
        and slot in (9, 0xFF)
    )
    assert run(target_filter(OURS, 7, 9), data) == want


@given(dsts, types, st.integers(0, 255), shelves, slots)
def test_target_filter_without_an_address_checks_type_flag_and_mac(dst, ethertype, verflags, shelf, slot):
    data = frame(dst, ethertype, verflags, shelf, slot)
    want = ethertype == 0x88A2 and not verflags & 0x08 and dst in (OURS, BCAST)
    assert run(target_filter(OURS), data) == want


@given(dsts, types, st.integers(0, 255), shelves, slots)
def test_initiator_filter_takes_responses_to_us_or_broadcast(dst, ethertype, verflags, shelf, slot):
    data = frame(dst, ethertype, verflags, shelf, slot)
    want = ethertype == 0x88A2 and bool(verflags & 0x08) and dst in (OURS, BCAST)
    assert run(initiator_filter(OURS), data) == want


def test_programs_pack_as_struct_sock_filter():
    program = initiator_filter(OURS)
    packed = pack_program(program)
    assert len(packed) == 8 * len(program)
    assert struct.unpack_from("=HBBI", packed, 0) == (BPF_LD_H_ABS, 0, 0, 12)


def test_bad_arguments_raise():
    import pytest

    with pytest.raises(ValueError):
        target_filter(b"\x01\x02")
    with pytest.raises(ValueError):
        target_filter(OURS, shelf=0x10000)
    with pytest.raises(ValueError):
        target_filter(OURS, slot=256)
