"""pyaoe.cli.aoecfg: `aoecfg`, aoetools 36's config string tool, with its options, output and
exit codes: a broadcast Query Config (read, test, prefix, set or fset) and the answers.

aoecfg [-c read|test|prefix|set|fset] [-s str] [-t secs] [shelf slot] [netif]
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pyaoe.cli.common import CommandError, OneLineParser
from pyaoe.cli.rawaoe import (
    ReplyTimeout,
    open_initiator_socket,
    parse_atoi,
    parse_strtoul,
    user_tag,
    wait_reply,
)
from pyaoe.protocol import (
    BROADCAST_MAC,
    BROADCAST_SHELF,
    BROADCAST_SLOT,
    MAX_CONFIG_STRING,
    Command,
    ConfigArg,
    ConfigCommand,
    Frame,
    Header,
    encode_frame,
)
from pyaoe.protocol.constants import CONFIG_HLEN
from pyaoe.protocol.header import decode_header

__all__ = ["main", "build_parser", "CONFIG_COMMANDS", "ERROR_WORDS"]

PROG = "aoecfg"
DEFAULT_NETIF = "eth0"

CONFIG_COMMANDS = {
    "read": ConfigCommand.READ,
    "test": ConfigCommand.TEST,
    "prefix": ConfigCommand.TEST_PREFIX,
    "set": ConfigCommand.SET,
    "fset": ConfigCommand.FORCE_SET,
}
#: What aoecfg prints instead of the string for an AoE error (by error code & 7).
ERROR_WORDS = ("*GOK*", "*badcmd*", "*badarg*", "*baddev*", "*badcfg*", "*badvers*", "*GOK*", "*GOK*")
# aoecfg sends its query with the whole 1024-byte config string area, used or not.
_QUERY_LENGTH = CONFIG_HLEN + MAX_CONFIG_STRING

_DESCRIPTION = """\
Broadcast a Query Config command on netif (default eth0) to e{shelf}.{slot} (default: every
shelf and slot) and print the answers: with both shelf and slot given, the first answer's
config string, then exit; otherwise "shelf.slot<TAB>string" for each answer until the -t
timeout (default: wait forever), then exit 0. AoE errors print as *badcfg* (set while a string
is present), *badarg*, *badcmd*, *baddev*, *badvers*, *GOK*. Output and exit codes are
aoetools 36's, but replies shorter than 60 bytes are accepted: vblade sends them over veth for
config strings under 28 bytes, and the C aoecfg never sees them."""


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        usage="%(prog)s [-c read|test|prefix|set|fset] [-s str] [-t secs] [shelf slot] [netif]",
        description=_DESCRIPTION,
    )
    parser.add_argument(
        "-c",
        dest="command",
        default="read",
        choices=list(CONFIG_COMMANDS),
        metavar="cmd",
        help="config command: read (default), test, prefix, set or fset",
    )
    parser.add_argument("-s", dest="string", metavar="str", default="", help="the config string to send")
    parser.add_argument("-t", dest="timeout", metavar="secs", help="seconds to wait (default 0: forever)")
    parser.add_argument("args", nargs="*", metavar="[shelf slot] [netif]")
    return parser


@dataclass
class Options:
    ccmd: int
    string: bytes
    timeout: int
    shelf: int
    slot: int
    netif: str

    @property
    def single(self) -> bool:
        """Both shelf and slot given: print the bare string and stop after one answer."""
        return self.shelf != BROADCAST_SHELF and self.slot != BROADCAST_SLOT


def parse_options(argv: Sequence[str]) -> Options:
    # Options may follow the operands, as getopt allows.
    args = build_parser().parse_intermixed_args(argv)
    positional = list(args.args)
    if len(positional) > 3:
        raise CommandError("too many arguments: expected [shelf slot] [netif]")
    shelf, slot = BROADCAST_SHELF, BROADCAST_SLOT
    if len(positional) >= 2:
        shelf = parse_strtoul(positional.pop(0), "shelf", BROADCAST_SHELF)
        slot = parse_strtoul(positional.pop(0), "slot", BROADCAST_SLOT)
    netif = positional[0] if positional else DEFAULT_NETIF
    if netif[:1].isdigit():
        raise CommandError(f'"{netif}" is not a valid network interface')
    string = os.fsencode(args.string)
    if len(string) > MAX_CONFIG_STRING:
        raise CommandError(f"config string of {len(string)} bytes is longer than {MAX_CONFIG_STRING}")
    timeout = 0 if args.timeout is None else parse_atoi(args.timeout, "timeout", 0, 2**31 - 1)
    return Options(
        ccmd=CONFIG_COMMANDS[args.command],
        string=string,
        timeout=timeout,
        shelf=shelf,
        slot=slot,
        netif=netif,
    )


def answer_text(frame: bytes) -> bytes:
    """The text aoecfg prints for one reply: the config string, or the error's word."""
    header = decode_header(frame)
    if header.is_error:
        return ERROR_WORDS[header.error & 7].encode()
    length = int.from_bytes(frame[CONFIG_HLEN - 2 : CONFIG_HLEN], "big")
    text = frame[CONFIG_HLEN : CONFIG_HLEN + length]
    # printf("%.*s") stops at a NUL byte.
    return text.split(b"\0", 1)[0]


def run(opts: Options) -> int:
    out = sys.stdout.buffer
    with open_initiator_socket(opts.netif) as sock:
        tag = user_tag()
        header = Header(
            dst=BROADCAST_MAC,
            src=sock.mac,
            shelf=opts.shelf,
            slot=opts.slot,
            command=Command.QUERY_CONFIG,
            tag=tag,
        )
        arg = ConfigArg(aoe_version=0, ccmd=opts.ccmd, config_string=opts.string)
        frame = encode_frame(Frame(header, arg)).ljust(_QUERY_LENGTH, b"\0")
        try:
            sock.send(frame)
        except OSError as exc:
            raise CommandError(f"send config query: {exc.strerror or exc}") from None

        def match(h: Header, _frame: memoryview) -> bool:
            if h.shelf == BROADCAST_SHELF or h.slot == BROADCAST_SLOT or h.tag != tag:
                return False
            if opts.shelf != BROADCAST_SHELF and h.shelf != opts.shelf:
                return False
            return opts.slot == BROADCAST_SLOT or h.slot == opts.slot

        # One deadline for the whole run, as aoecfg's -t is.
        deadline = time.monotonic() + opts.timeout if opts.timeout else None
        while True:
            try:
                reply = wait_reply(sock, match, deadline)
            except ReplyTimeout:
                return 0
            h = decode_header(reply)
            text = answer_text(reply)
            if opts.single:
                out.write(text + b"\n")
                out.flush()
                return 0
            out.write(f"{h.shelf}.{h.slot}\t".encode() + text + b"\n")
            out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        return run(parse_options(args))
    except CommandError as exc:
        sys.stdout.flush()
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
