"""pyaoe.target.control: Query Config, MAC Mask List and Reserve/Release on an export's state.

Each function takes the request's argument and returns the response argument with the AoE error
to flag (0 for none), or None when the protocol says not to answer (vblade's confcmd/aoemask/aoesrr).
"""

from __future__ import annotations

from pyaoe.protocol import (
    AOE_VERSION,
    AoeError,
    ConfigArg,
    ConfigCommand,
    Directive,
    DirectiveCommand,
    MaskArg,
    MaskCommand,
    MaskError,
    ReserveArg,
    ReserveCommand,
    config_matches,
)
from pyaoe.target.export import MAX_MASKS, Export

__all__ = ["answer_config", "answer_mask", "answer_reserve", "config_reply"]


def config_reply(export: Export, ccmd: int, max_sectors: int) -> ConfigArg:
    """The Query Config response describing ``export`` (also its announcement, with ccmd 0)."""
    return ConfigArg(
        buffer_count=export.config.bufcnt,
        firmware_version=export.config.firmware_version,
        sector_count=max_sectors,
        aoe_version=AOE_VERSION,
        ccmd=ccmd,
        config_string=export.state.config_string,
    )


def answer_config(export: Export, arg: ConfigArg, max_sectors: int) -> tuple[ConfigArg, int] | None:
    """Handle a Query Config request (AoEr11 §3.2)."""
    state = export.state
    ccmd = arg.ccmd
    error = 0
    if ccmd in (ConfigCommand.READ, ConfigCommand.TEST, ConfigCommand.TEST_PREFIX):
        if not config_matches(ccmd, arg.config_string, state.config_string):
            return None
    elif ccmd == ConfigCommand.SET:
        # The claim rule: only an empty string may be set (setting the same string is harmless).
        if state.config_string and state.config_string != arg.config_string:
            error = AoeError.CONFIG_STRING_PRESENT
        elif state.config_string != arg.config_string:
            state.config_string = arg.config_string
            export.state_changed()
    elif ccmd == ConfigCommand.FORCE_SET:
        if state.config_string != arg.config_string:
            state.config_string = arg.config_string
            export.state_changed()
    else:
        error = AoeError.BAD_ARGUMENT
    return config_reply(export, ccmd, max_sectors), error


def _mask_list(export: Export) -> tuple[Directive, ...]:
    return tuple(Directive(dcmd=DirectiveCommand.NONE, mac=mac) for mac in export.state.mask_list)


def answer_mask(export: Export, arg: MaskArg, src: bytes) -> tuple[MaskArg, int]:
    """Handle a MAC Mask List request (AoEr11 §3.3); edit errors go in MError, as vblade does."""
    masks = export.state.mask_list
    if arg.mcmd == MaskCommand.READ:
        return MaskArg(mcmd=arg.mcmd, directives=_mask_list(export)), 0
    if arg.mcmd != MaskCommand.EDIT:
        return MaskArg(mcmd=arg.mcmd), AoeError.BAD_ARGUMENT
    if not export.is_admin(src):
        return MaskArg(mcmd=arg.mcmd, merror=MaskError.UNSPECIFIED, failed_index=0), 0
    before = list(masks)
    reply = _edit_masks(export, arg)
    if masks != before:
        export.state_changed()
    return reply, 0


def _edit_masks(export: Export, arg: MaskArg) -> MaskArg:
    """Apply the directives in order; stop at the first that fails (those before it stay done)."""
    masks = export.state.mask_list
    for index, directive in enumerate(arg.directives):
        if directive.dcmd == DirectiveCommand.ADD:
            if directive.mac in masks:
                continue
            if len(masks) >= MAX_MASKS:
                return MaskArg(mcmd=arg.mcmd, merror=MaskError.LIST_FULL, failed_index=index)
            masks.append(directive.mac)
        elif directive.dcmd == DirectiveCommand.DELETE:
            if directive.mac in masks:
                masks.remove(directive.mac)
        elif directive.dcmd != DirectiveCommand.NONE:
            return MaskArg(mcmd=arg.mcmd, merror=MaskError.BAD_DIRECTIVE, failed_index=index)
    return MaskArg(mcmd=arg.mcmd, directives=_mask_list(export))


def answer_reserve(export: Export, arg: ReserveArg, src: bytes) -> tuple[ReserveArg, int]:
    """Handle a Reserve/Release request (AoEr11 §3.4); an empty SET releases."""
    state = export.state
    error = 0
    if arg.rcmd == ReserveCommand.READ:
        pass
    elif arg.rcmd in (ReserveCommand.SET, ReserveCommand.FORCE_SET):
        if not export.is_admin(src) or (
            arg.rcmd == ReserveCommand.SET and state.reserve_list and src not in state.reserve_list
        ):
            error = AoeError.TARGET_RESERVED
        else:
            new = list(dict.fromkeys(arg.macs))
            if new != state.reserve_list:
                state.reserve_list = new
                export.state_changed()
    else:
        error = AoeError.BAD_ARGUMENT
    return ReserveArg(rcmd=arg.rcmd, macs=tuple(state.reserve_list)), error
