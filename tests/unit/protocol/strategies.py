"""Hypothesis strategies for the protocol codec tests: headers and every argument type.

Shared by the test_*.py files beside it so each message is generated one way only.
"""

from __future__ import annotations

from hypothesis import strategies as st

from pyaoe.protocol import (
    BROADCAST_SHELF,
    BROADCAST_SLOT,
    LBA28_MAX,
    LBA48_MAX,
    MAX_CONFIG_STRING,
    SECTOR_SIZE,
    AtaArg,
    AtaFlag,
    Command,
    ConfigArg,
    ConfigCommand,
    Directive,
    DirectiveCommand,
    Frame,
    Header,
    MaskArg,
    MaskCommand,
    MaskError,
    ReserveArg,
    ReserveCommand,
    lba_register,
)

macs = st.binary(min_size=6, max_size=6)
shelves = st.one_of(st.just(BROADCAST_SHELF), st.integers(0, 0xFFFF))
slots = st.one_of(st.just(BROADCAST_SLOT), st.integers(0, 0xFF))
tags = st.integers(0, 0xFFFFFFFF)
#: Every combination of the low nibble, so R, E and the two reserved bits all appear.
flags = st.integers(0, 0xF)
versions = st.integers(0, 0xF)
errors = st.integers(0, 0xFF)
#: Commands this codec has no argument type for: 4-0xEF (unknown) and 0xF0-0xFF (vendor).
raw_commands = st.integers(4, 0xFF)


def headers(command: st.SearchStrategy[int]) -> st.SearchStrategy[Header]:
    return st.builds(
        Header,
        dst=macs,
        src=macs,
        shelf=shelves,
        slot=slots,
        command=command,
        tag=tags,
        flags=flags,
        error=errors,
        version=versions,
    )


aflags = st.sets(st.sampled_from(list(AtaFlag))).map(lambda s: sum(s, 0))


@st.composite
def lba_registers(draw: st.DrawFn) -> int:
    """The LBA register bytes as an initiator sends them, LBA28 (with 0xE0) or LBA48."""
    if draw(st.booleans()):
        return lba_register(draw(st.integers(0, LBA28_MAX)), extended=False)
    return lba_register(draw(st.integers(0, LBA48_MAX)), extended=True)


ata_args = st.builds(
    AtaArg,
    aflags=aflags,
    err_feature=st.integers(0, 0xFF),
    sector_count=st.integers(0, 0xFF),
    cmd_status=st.integers(0, 0xFF),
    lba=st.one_of(lba_registers(), st.integers(0, LBA48_MAX)),
    # Whole sectors (the real case) or any length (short ones meet the padding).
    data=st.one_of(
        st.integers(0, 2).map(lambda n: bytes(range(256)) * 2 * n),
        st.binary(max_size=2 * SECTOR_SIZE),
    ),
)

config_args = st.builds(
    ConfigArg,
    buffer_count=st.integers(0, 0xFFFF),
    firmware_version=st.integers(0, 0xFFFF),
    sector_count=st.integers(0, 0xFF),
    aoe_version=versions,
    ccmd=st.sampled_from(list(ConfigCommand)),
    config_string=st.one_of(
        st.binary(max_size=64),
        st.binary(min_size=MAX_CONFIG_STRING - 8, max_size=MAX_CONFIG_STRING),
    ),
)

directives = st.builds(Directive, dcmd=st.sampled_from(list(DirectiveCommand)), mac=macs)
mask_args = st.one_of(
    st.builds(
        MaskArg,
        mcmd=st.sampled_from(list(MaskCommand)),
        directives=st.lists(directives, max_size=40).map(tuple),
    ),
    st.builds(
        MaskArg,
        mcmd=st.just(MaskCommand.EDIT),
        merror=st.sampled_from(list(MaskError)),
        failed_index=st.integers(0, 0xFF),
    ),
)

reserve_args = st.builds(
    ReserveArg,
    rcmd=st.sampled_from(list(ReserveCommand)),
    macs=st.lists(macs, max_size=40).map(tuple),
)


def frames_of(
    command: int | st.SearchStrategy[int], arg: st.SearchStrategy[object]
) -> st.SearchStrategy[Frame]:
    cmd = st.just(command) if isinstance(command, int) else command
    return st.builds(Frame, header=headers(cmd), arg=arg)


ata_frames = frames_of(Command.ATA, ata_args)
config_frames = frames_of(Command.QUERY_CONFIG, config_args)
mask_frames = frames_of(Command.MAC_MASK_LIST, mask_args)
reserve_frames = frames_of(Command.RESERVE_RELEASE, reserve_args)
raw_frames = frames_of(raw_commands, st.binary(max_size=100))
any_frames = st.one_of(ata_frames, config_frames, mask_frames, reserve_frames, raw_frames)
