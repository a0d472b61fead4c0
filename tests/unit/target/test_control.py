"""Query Config, MAC Mask List and Reserve/Release as the target answers them, through the engine:
the config string rules, vblade's mask list semantics (and --admin), and the reserve rules.
"""

from __future__ import annotations

import pytest

from pyaoe.protocol import (
    ETH_ZLEN,
    MAX_CONFIG_STRING,
    SECTOR_SIZE,
    AoeError,
    AtaArg,
    AtaCommand,
    AtaStatus,
    ConfigArg,
    ConfigCommand,
    Directive,
    DirectiveCommand,
    MaskArg,
    MaskCommand,
    MaskError,
    ReserveArg,
    ReserveCommand,
)
from pyaoe.target import DEFAULT_BUFCNT, FIRMWARE_VERSION, Export, ExportState, TargetEngine

from .frames import (
    HOST_A,
    HOST_B,
    HOST_C,
    OTHER_MAC,
    ata,
    config,
    make_engine,
    make_export,
    mask,
    no_reply,
    one_reply,
    pattern,
    replies,
    reserve,
)

DRDY = int(AtaStatus.DRDY)


def setup(config_string: bytes = b"", **kw: object) -> tuple[Export, TargetEngine]:
    export = make_export(state=ExportState(config_string=config_string), **kw)
    return export, make_engine(export)


def config_reply(engine: TargetEngine, arg: ConfigArg, **kw: object) -> tuple[int, ConfigArg]:
    reply = one_reply(engine, config(arg, **kw))
    assert isinstance(reply.arg, ConfigArg)
    return reply.header.error if reply.header.is_error else 0, reply.arg


# -- Query Config ---------------------------------------------------------------------------------
def test_read_reports_the_export():
    _e, engine = setup(b"rack 4", bufcnt=64)
    error, arg = config_reply(engine, ConfigArg(ccmd=ConfigCommand.READ))
    assert error == 0
    assert arg.config_string == b"rack 4"
    assert arg.buffer_count == 64
    assert arg.firmware_version == FIRMWARE_VERSION
    assert arg.sector_count == 2
    assert (arg.aoe_version, arg.ccmd) == (1, ConfigCommand.READ)


def test_read_as_aoeping_sends_it_ignores_the_request_string():
    """aoeping and aoecfg fill a 1024-byte string area with 0xED and send ccmd read."""
    _e, engine = setup(b"")
    error, arg = config_reply(engine, ConfigArg(config_string=b"\xed" * MAX_CONFIG_STRING))
    assert error == 0 and arg.config_string == b""
    assert arg.buffer_count == DEFAULT_BUFCNT


def test_read_with_an_empty_string_is_still_a_60_byte_frame():
    _e, engine = setup(b"")
    raw = engine.handle_frame(config(ConfigArg()))
    assert len(raw) == 1 and len(raw[0]) == ETH_ZLEN


def test_set_on_an_empty_string_sets_it():
    export, engine = setup(b"")
    error, arg = config_reply(engine, ConfigArg(ccmd=ConfigCommand.SET, config_string=b"mine"))
    assert error == 0 and arg.config_string == b"mine" and arg.ccmd == ConfigCommand.SET
    assert export.state.config_string == b"mine"


def test_set_on_a_present_string_is_error_4_and_returns_the_current_string():
    export, engine = setup(b"theirs")
    error, arg = config_reply(engine, ConfigArg(ccmd=ConfigCommand.SET, config_string=b"mine"))
    assert error == AoeError.CONFIG_STRING_PRESENT
    assert arg.config_string == b"theirs"
    assert export.state.config_string == b"theirs"


def test_set_to_the_same_string_succeeds():
    _e, engine = setup(b"same")
    error, arg = config_reply(engine, ConfigArg(ccmd=ConfigCommand.SET, config_string=b"same"))
    assert error == 0 and arg.config_string == b"same"


@pytest.mark.parametrize("new", [b"forced", b"", b"x" * MAX_CONFIG_STRING])
def test_force_set_always_sets(new):
    export, engine = setup(b"theirs")
    error, arg = config_reply(engine, ConfigArg(ccmd=ConfigCommand.FORCE_SET, config_string=new))
    assert error == 0 and arg.config_string == new
    assert export.state.config_string == new


def test_a_1024_byte_string_is_set_and_read_back():
    big = bytes(range(256)) * 4
    _e, engine = setup(b"")
    assert config_reply(engine, ConfigArg(ccmd=ConfigCommand.SET, config_string=big))[0] == 0
    raw = engine.handle_frame(config(ConfigArg()))
    assert len(raw[0]) == 32 + MAX_CONFIG_STRING
    assert config_reply(engine, ConfigArg())[1].config_string == big


def test_a_string_longer_than_1024_is_error_2_and_not_stored():
    export, engine = setup(b"old")
    frame = bytearray(config(ConfigArg(ccmd=ConfigCommand.FORCE_SET, config_string=b"y" * MAX_CONFIG_STRING)))
    frame[30:32] = (MAX_CONFIG_STRING + 1).to_bytes(2, "big")
    frame += b"y"
    reply = one_reply(engine, bytes(frame))
    assert reply.header.is_error and reply.header.error == AoeError.BAD_ARGUMENT
    assert export.state.config_string == b"old"


def test_a_string_length_past_the_frame_is_error_2():
    export, engine = setup(b"old")
    frame = bytearray(config(ConfigArg(ccmd=ConfigCommand.FORCE_SET, config_string=b"abc")))
    frame[30:32] = (100).to_bytes(2, "big")
    reply = one_reply(engine, bytes(frame))
    assert reply.header.error == AoeError.BAD_ARGUMENT
    assert export.state.config_string == b"old"


@pytest.mark.parametrize("ccmd", [5, 9, 15])
def test_an_unknown_ccmd_is_error_2(ccmd):
    export, engine = setup(b"old")
    error, arg = config_reply(engine, ConfigArg(ccmd=ccmd, config_string=b"new"))
    assert error == AoeError.BAD_ARGUMENT and arg.ccmd == ccmd
    assert export.state.config_string == b"old"


def test_test_answers_only_an_exact_match():
    _e, engine = setup(b"rack 4")
    error, arg = config_reply(engine, ConfigArg(ccmd=ConfigCommand.TEST, config_string=b"rack 4"))
    assert error == 0 and arg.config_string == b"rack 4" and arg.ccmd == ConfigCommand.TEST
    for other in (b"rack", b"rack 44", b"", b"RACK 4"):
        no_reply(engine, config(ConfigArg(ccmd=ConfigCommand.TEST, config_string=other)))


def test_test_prefix_answers_only_a_prefix():
    _e, engine = setup(b"rack 4")
    for prefix in (b"", b"r", b"rack", b"rack 4"):
        error, arg = config_reply(engine, ConfigArg(ccmd=ConfigCommand.TEST_PREFIX, config_string=prefix))
        assert error == 0 and arg.config_string == b"rack 4"
    for other in (b"rack 44", b"ack", b"x"):
        no_reply(engine, config(ConfigArg(ccmd=ConfigCommand.TEST_PREFIX, config_string=other)))


def test_test_on_an_empty_string():
    _e, engine = setup(b"")
    assert config_reply(engine, ConfigArg(ccmd=ConfigCommand.TEST))[0] == 0
    no_reply(engine, config(ConfigArg(ccmd=ConfigCommand.TEST, config_string=b"a")))


def test_config_is_answered_by_each_export_of_a_broadcast_with_its_own_string():
    engine = make_engine(
        make_export(1, 1, state=ExportState(config_string=b"one")),
        make_export(1, 2, state=ExportState(config_string=b"two")),
    )
    got = replies(
        engine, config(ConfigArg(ccmd=ConfigCommand.TEST_PREFIX, config_string=b"t"), shelf=1, slot=0xFF)
    )
    assert [(r.header.slot, r.arg.config_string) for r in got] == [(2, b"two")]  # type: ignore[union-attr]


# -- MAC Mask List -----------------------------------------------------------------------------
def edit(*directives: tuple[int, bytes]) -> MaskArg:
    return MaskArg(mcmd=MaskCommand.EDIT, directives=tuple(Directive(d, m) for d, m in directives))


def mask_reply(engine: TargetEngine, arg: MaskArg, src: bytes = HOST_A) -> tuple[int, MaskArg]:
    reply = one_reply(engine, mask(arg, src=src))
    assert isinstance(reply.arg, MaskArg)
    return reply.header.error if reply.header.is_error else 0, reply.arg


def listed(arg: MaskArg) -> list[bytes]:
    return [d.mac for d in arg.directives]


def test_an_empty_mask_list_reads_empty():
    _e, engine = setup()
    assert mask_reply(engine, MaskArg()) == (0, MaskArg())


def test_add_and_delete_edit_the_list_and_the_reply_lists_it():
    export, engine = setup()
    error, arg = mask_reply(engine, edit((DirectiveCommand.ADD, HOST_A), (DirectiveCommand.ADD, HOST_B)))
    assert error == 0 and arg.merror == 0
    assert listed(arg) == [HOST_A, HOST_B]
    assert export.state.mask_list == [HOST_A, HOST_B]
    # Adding a listed MAC again is fine and changes nothing; deleting an absent one too.
    error, arg = mask_reply(
        engine, edit((DirectiveCommand.ADD, HOST_B), (DirectiveCommand.DELETE, OTHER_MAC))
    )
    assert error == 0 and listed(arg) == [HOST_A, HOST_B]
    error, arg = mask_reply(engine, edit((DirectiveCommand.DELETE, HOST_A)), src=HOST_B)
    assert listed(arg) == [HOST_B]
    assert listed(mask_reply(engine, MaskArg(), src=HOST_B)[1]) == [HOST_B]


def test_one_add_by_anyone_locks_everyone_else_out():
    """vblade's behaviour: with an empty list anyone may edit, and adding another host's MAC
    leaves the editor itself outside the list."""
    export, engine = setup()
    error, _arg = mask_reply(engine, edit((DirectiveCommand.ADD, HOST_B)), src=HOST_A)
    assert error == 0
    no_reply(engine, mask(MaskArg(), src=HOST_A))
    no_reply(engine, config(ConfigArg(), src=HOST_A))
    no_reply(engine, ata(AtaCommand.READ_SECTORS, src=HOST_A))
    assert len(replies(engine, config(ConfigArg(), src=HOST_B))) == 1
    # The allowed host can open the door again by emptying the list.
    mask_reply(engine, edit((DirectiveCommand.DELETE, HOST_B)), src=HOST_B)
    assert export.state.mask_list == []
    assert len(replies(engine, config(ConfigArg(), src=HOST_A))) == 1


def test_the_list_holds_32_and_a_full_list_is_merror_3_with_the_failing_index():
    export, engine = setup()
    macs = [bytes.fromhex(f"0200000001{i:02x}") for i in range(40)]
    error, arg = mask_reply(engine, edit(*((DirectiveCommand.ADD, m) for m in macs[:30])), src=HOST_A)
    assert error == 0 and len(arg.directives) == 30
    src = macs[0]
    error, arg = mask_reply(
        engine,
        edit(
            (DirectiveCommand.ADD, macs[30]),
            (DirectiveCommand.ADD, macs[31]),
            (DirectiveCommand.ADD, macs[32]),
        ),
        src=src,
    )
    assert error == 0, "MError is reported in the argument, without the AoE error flag"
    assert (arg.merror, arg.failed_index) == (MaskError.LIST_FULL, 2)
    assert export.state.mask_list == macs[:32]
    # A duplicate is not an addition, so it does not overflow.
    error, arg = mask_reply(engine, edit((DirectiveCommand.ADD, macs[5])), src=src)
    assert arg.merror == 0 and len(arg.directives) == 32


@pytest.mark.parametrize("dcmd", [3, 7, 0xFF])
def test_a_bad_directive_is_merror_2_with_its_index(dcmd):
    export, engine = setup()
    error, arg = mask_reply(
        engine, edit((DirectiveCommand.ADD, HOST_A), (DirectiveCommand.NONE, HOST_C), (dcmd, HOST_B))
    )
    assert error == 0
    assert (arg.merror, arg.failed_index) == (MaskError.BAD_DIRECTIVE, 2)
    assert HOST_B not in export.state.mask_list


@pytest.mark.parametrize("mcmd", [2, 0x80, 0xFF])
def test_an_unknown_mcmd_is_aoe_error_2(mcmd):
    export, engine = setup()
    reply = one_reply(engine, mask(MaskArg(mcmd=mcmd, directives=(Directive(DirectiveCommand.ADD, HOST_A),))))
    assert reply.header.is_error and reply.header.error == AoeError.BAD_ARGUMENT
    assert export.state.mask_list == []


def test_mask_replies_are_at_least_60_bytes():
    _e, engine = setup()
    for arg in (MaskArg(), edit((DirectiveCommand.ADD, HOST_A)), edit((9, HOST_A))):
        raw = engine.handle_frame(mask(arg))
        assert len(raw) == 1 and len(raw[0]) >= ETH_ZLEN


# -- --admin ------------------------------------------------------------------------------------
def admin_setup(**state: object) -> tuple[Export, TargetEngine]:
    export = make_export(admin_macs=frozenset({HOST_C}), state=ExportState(**state))  # type: ignore[arg-type]
    return export, make_engine(export)


def test_non_admin_mask_edits_are_refused_and_admin_edits_work():
    export, engine = admin_setup()
    error, arg = mask_reply(engine, edit((DirectiveCommand.ADD, HOST_A)), src=HOST_A)
    assert error == 0 and arg.merror == MaskError.UNSPECIFIED
    assert export.state.mask_list == []
    # Reading is not editing.
    assert mask_reply(engine, MaskArg(), src=HOST_A) == (0, MaskArg())
    error, arg = mask_reply(
        engine, edit((DirectiveCommand.ADD, HOST_A), (DirectiveCommand.ADD, HOST_C)), src=HOST_C
    )
    assert arg.merror == 0 and listed(arg) == [HOST_A, HOST_C]


def test_non_admin_reserve_sets_are_refused_and_admin_ones_work():
    export, engine = admin_setup()
    for rcmd in (ReserveCommand.SET, ReserveCommand.FORCE_SET):
        error, _arg = reserve_reply(engine, ReserveArg(rcmd=rcmd, macs=(HOST_A,)), src=HOST_A)
        assert error == AoeError.TARGET_RESERVED
        assert export.state.reserve_list == []
    error, arg = reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET, macs=(HOST_A,)), src=HOST_C)
    assert error == 0 and arg.macs == (HOST_A,)
    error, arg = reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.FORCE_SET, macs=(HOST_B,)), src=HOST_C)
    assert error == 0 and export.state.reserve_list == [HOST_B]
    # Even the holder, not being an admin, cannot release it.
    error, _arg = reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET), src=HOST_B)
    assert error == AoeError.TARGET_RESERVED and export.state.reserve_list == [HOST_B]


# -- Reserve/Release ---------------------------------------------------------------------------
def reserve_reply(engine: TargetEngine, arg: ReserveArg, src: bytes = HOST_A) -> tuple[int, ReserveArg]:
    reply = one_reply(engine, reserve(arg, src=src))
    assert isinstance(reply.arg, ReserveArg)
    assert len(engine.handle_frame(reserve(ReserveArg(), src=src))[0]) >= ETH_ZLEN
    return reply.header.error if reply.header.is_error else 0, reply.arg


def test_reserve_read_and_set_on_an_empty_list():
    export, engine = setup()
    assert reserve_reply(engine, ReserveArg()) == (0, ReserveArg())
    error, arg = reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET, macs=(HOST_A, HOST_B)))
    assert error == 0 and arg.macs == (HOST_A, HOST_B)
    assert export.state.reserve_list == [HOST_A, HOST_B]
    assert reserve_reply(engine, ReserveArg(), src=HOST_C) == (0, ReserveArg(macs=(HOST_A, HOST_B)))


def test_a_member_may_set_a_non_member_gets_error_6():
    export, engine = setup()
    reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET, macs=(HOST_A,)))
    error, arg = reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET, macs=(HOST_B,)), src=HOST_B)
    assert error == AoeError.TARGET_RESERVED
    assert arg.macs == (HOST_A,)
    assert export.state.reserve_list == [HOST_A]
    error, arg = reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET, macs=(HOST_A, HOST_B)), src=HOST_A)
    assert error == 0 and export.state.reserve_list == [HOST_A, HOST_B]


def test_force_set_overrides_the_holder():
    export, engine = setup()
    reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET, macs=(HOST_A,)))
    error, arg = reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.FORCE_SET, macs=(HOST_C,)), src=HOST_C)
    assert error == 0 and arg.macs == (HOST_C,)
    assert export.state.reserve_list == [HOST_C]


def test_an_empty_set_releases():
    export, engine = setup()
    reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET, macs=(HOST_A,)))
    # A stranger cannot release it ...
    assert (
        reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET), src=HOST_B)[0] == AoeError.TARGET_RESERVED
    )
    # ... the holder can, and then anyone does I/O again.
    error, arg = reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET), src=HOST_A)
    assert error == 0 and arg.macs == ()
    assert export.state.reserve_list == []
    reply = one_reply(engine, ata(AtaCommand.WRITE_SECTORS, 0, 1, pattern(1), src=HOST_B))
    assert isinstance(reply.arg, AtaArg) and reply.arg.cmd_status == DRDY


def test_reserved_target_identify_yes_io_no():
    export, engine = setup()
    reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET, macs=(HOST_A,)))
    reply = one_reply(engine, ata(AtaCommand.IDENTIFY_DEVICE, src=HOST_B))
    assert isinstance(reply.arg, AtaArg) and reply.arg.cmd_status == DRDY
    assert len(reply.arg.data) == SECTOR_SIZE
    for frame in (
        ata(AtaCommand.READ_SECTORS, 0, 1, src=HOST_B),
        ata(AtaCommand.WRITE_SECTORS_EXT, 0, 1, pattern(1), src=HOST_B),
    ):
        reply = one_reply(engine, frame)
        assert reply.header.is_error and reply.header.error == AoeError.TARGET_RESERVED
    assert export.backend.buffer == bytes(64 * SECTOR_SIZE)  # type: ignore[attr-defined]


def test_duplicate_macs_in_a_set_are_kept_once():
    export, engine = setup()
    reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.SET, macs=(HOST_A, HOST_A, HOST_B)))
    assert export.state.reserve_list == [HOST_A, HOST_B]


@pytest.mark.parametrize("rcmd", [3, 0x10, 0xFF])
def test_an_unknown_rcmd_is_error_2(rcmd):
    export, engine = setup()
    error, _arg = reserve_reply(engine, ReserveArg(rcmd=rcmd, macs=(HOST_B,)))
    assert error == AoeError.BAD_ARGUMENT
    assert export.state.reserve_list == []


def test_an_admin_outside_the_mask_list_still_manages_it():
    """An admin who masks the target to its clients is not locked out of managing it: its mask
    and reserve commands pass the mask list (its I/O does not)."""
    export, engine = admin_setup()
    error, arg = mask_reply(engine, edit((DirectiveCommand.ADD, HOST_A)), src=HOST_C)
    assert arg.merror == 0 and export.state.mask_list == [HOST_A]
    error, arg = mask_reply(engine, edit((DirectiveCommand.ADD, HOST_B)), src=HOST_C)
    assert arg.merror == 0 and export.state.mask_list == [HOST_A, HOST_B]
    error, arg = reserve_reply(engine, ReserveArg(rcmd=ReserveCommand.FORCE_SET, macs=(HOST_B,)), src=HOST_C)
    assert error == 0 and export.state.reserve_list == [HOST_B]
    no_reply(engine, ata(AtaCommand.READ_SECTORS, 0, 1, src=HOST_C))
    no_reply(engine, config(ConfigArg(), src=HOST_C))
    # Without an admin list nobody is exempt (vblade): outsiders are ignored, edits included.
    export = make_export(state=ExportState(mask_list=[HOST_A]))
    engine = make_engine(export)
    no_reply(engine, mask(edit((DirectiveCommand.ADD, HOST_C)), src=HOST_C))
    no_reply(engine, reserve(ReserveArg(rcmd=ReserveCommand.FORCE_SET, macs=(HOST_C,)), src=HOST_C))
    assert export.state == ExportState(mask_list=[HOST_A])
