"""pyaoe.cli.aoeping: `aoeping`, aoetools 36's raw-socket pinger, with its options, output and
exit codes: a config query to shelf.slot, then optionally ATA IDENTIFY and a SMART command.

aoeping [-hviI] [-s secs] [-S smartcmd[:arg]] [-t tag] shelf slot netif
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pyaoe.cli.common import CommandError, OneLineParser
from pyaoe.cli.rawaoe import (
    ReplyTimeout,
    exit_by_alarm,
    hex_dump,
    open_initiator_socket,
    parse_atoi,
    parse_strtoul,
    user_tag,
    wait_reply,
)
from pyaoe.net import PacketSocket
from pyaoe.protocol import (
    AOE_ERROR_TEXT,
    BROADCAST_MAC,
    MAX_SHELF,
    MAX_SLOT,
    SECTOR_SIZE,
    AtaArg,
    AtaCommand,
    AtaErrorBit,
    Command,
    ConfigArg,
    ConfigCommand,
    Frame,
    Header,
    encode_frame,
    is_ata_failure,
    parse_identify,
)
from pyaoe.protocol.ata import decode_ata
from pyaoe.protocol.header import decode_header

__all__ = ["main", "build_parser", "SMART_COMMANDS"]

PROG = "aoeping"


@dataclass(frozen=True)
class SmartCommand:
    #: The SMART subcommand (the Features register).
    feature: int
    #: One sector comes back (read_data, read_log).
    returns_data: bool = False
    #: One sector, read from stdin, goes out (write_log).
    sends_data: bool = False


#: aoeping's SMART subcommands (ATA SMART feature codes).
SMART_COMMANDS = {
    "read_data": SmartCommand(0xD0, returns_data=True),
    "offline_immediate": SmartCommand(0xD4),
    "read_log": SmartCommand(0xD5, returns_data=True),
    "write_log": SmartCommand(0xD6, sends_data=True),
    "enable": SmartCommand(0xD8),
    "disable": SmartCommand(0xD9),
    "return_status": SmartCommand(0xDA),
}
# SMART's signature in LBA Mid/High (ATA: 0x4F, 0xC2).
_SMART_LBA = (0x4F << 8) | (0xC2 << 16)
# aoetools sends fixed-size requests: a 1024-byte config string area, a 1024-byte data area.
_QUERY_STRING = b"\xed" * 1024
_ATA_DATA_AREA = 1024
# IDENTIFY asks for the master device (LBA3 = 0xA0), as aoeping and the Linux driver do.
_IDENTIFY_LBA = 0xA0 << 24

_DESCRIPTION = """\
Send a Query Config request to AoE target e{shelf}.{slot} on netif and wait for its answer;
then, with -i/-I/-S, an ATA IDENTIFY DEVICE (and a SMART command). Output and exit codes are
aoetools 36's: without -s it waits forever; when -s runs out it dies of SIGALRM (status 142).
Unlike the C aoeping it also accepts replies shorter than 60 bytes, which vblade sends over veth
(a config string under 28 bytes): the C tool ignores them and waits forever."""


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        usage="%(prog)s [-hviI] [-s secs] [-S smartcmd[:arg]] [-t tag] shelf slot netif",
        description=_DESCRIPTION,
    )
    parser.add_argument("-v", dest="verbose", action="count", default=0, help="be verbose")
    parser.add_argument(
        "-i", dest="ident", action="store_true", help="do ATA device identify dump as raw hex"
    )
    parser.add_argument("-I", dest="pretty", action="store_true", help="do ATA device identify print fields")
    parser.add_argument("-s", dest="timeout", metavar="secs", help="timeout in seconds (one or more)")
    parser.add_argument(
        "-S",
        dest="smart",
        metavar="smartcmd[:arg]",
        help="perform SMART command: " + ", ".join(SMART_COMMANDS),
    )
    parser.add_argument("-t", dest="tag", metavar="tag", help="number for starting AoE tag (bit 31 is set)")
    parser.add_argument("shelf")
    parser.add_argument("slot")
    parser.add_argument("netif")
    return parser


@dataclass
class Options:
    shelf: int
    slot: int
    netif: str
    verbose: int
    ident: bool
    pretty: bool
    timeout: int | None
    tag: int
    smart: tuple[str, SmartCommand, int | None] | None


def parse_options(argv: Sequence[str]) -> Options:
    args = build_parser().parse_args(argv)
    timeout = None
    if args.timeout is not None:
        timeout = parse_atoi(args.timeout, "timeout seconds", -(2**31), 2**31 - 1)
        if timeout < 1:
            raise CommandError("timeout seconds must be one or more")
    smart = None
    if args.smart is not None:
        name, colon, arg = args.smart.partition(":")
        command = SMART_COMMANDS.get(name)
        if command is None:
            raise CommandError(f"no such SMART command: {args.smart}")
        low_lba = parse_strtoul(arg, "SMART argument", 0xFF) if colon else None
        smart = (name, command, low_lba)
    return Options(
        shelf=parse_atoi(args.shelf, "shelf", 0, MAX_SHELF),
        slot=parse_atoi(args.slot, "slot", 0, MAX_SLOT),
        netif=args.netif,
        verbose=args.verbose,
        ident=args.ident or args.pretty,
        pretty=args.pretty,
        timeout=timeout,
        tag=user_tag(0 if args.tag is None else parse_atoi(args.tag, "tag", 0, 0xFFFFFFFF)),
        smart=smart,
    )


class Pinger:
    """One aoeping run: the socket, the tag sequence and the target found by the query."""

    def __init__(self, sock: PacketSocket, opts: Options) -> None:
        self.sock = sock
        self.opts = opts
        self.tag = opts.tag
        self.target: Header | None = None

    def deadline(self) -> float | None:
        # aoeping arms alarm(secs) afresh for each exchange.
        return None if self.opts.timeout is None else time.monotonic() + self.opts.timeout

    def send(self, frame: bytes, what: str) -> None:
        try:
            self.sock.send(frame)
        except OSError as exc:
            raise CommandError(f"send {what}: {exc.strerror or exc}") from None

    def find_blade(self) -> Header:
        opts = self.opts
        header = Header(
            dst=BROADCAST_MAC,
            src=self.sock.mac,
            shelf=opts.shelf,
            slot=opts.slot,
            command=Command.QUERY_CONFIG,
            tag=self.tag,
        )
        # aoetools leaves the version nibble of the config argument at 0.
        query = ConfigArg(aoe_version=0, ccmd=ConfigCommand.READ, config_string=_QUERY_STRING)
        self.send(encode_frame(Frame(header, query)), "config query")
        tag = self.tag
        reply = wait_reply(
            self.sock,
            lambda h, _f: h.shelf == opts.shelf and h.slot == opts.slot and h.tag == tag,
            self.deadline(),
        )
        if opts.verbose:
            print("config query response:")
            print(hex_dump(reply))
        self.tag = (self.tag + 1) & 0xFFFFFFFF
        self.target = decode_header(reply)
        return self.target

    def ata(self, arg: AtaArg, what: str) -> tuple[Header, AtaArg]:
        """Send one ATA command to the target found; the reply's header and argument."""
        target = self.target
        if target is None:
            raise RuntimeError("find_blade() first")
        header = Header(
            dst=target.src,
            src=self.sock.mac,
            shelf=target.shelf,
            slot=target.slot,
            command=Command.ATA,
            tag=self.tag,
        )
        self.send(encode_frame(Frame(header, arg)), what)
        tag = self.tag
        reply = wait_reply(
            self.sock,
            lambda h, _f: h.shelf == target.shelf and h.slot == target.slot and h.tag == tag,
            self.deadline(),
        )
        self.tag = (self.tag + 1) & 0xFFFFFFFF
        reply_header = decode_header(reply)
        if reply_header.is_error:
            text = AOE_ERROR_TEXT.get(reply_header.error, "unknown error")
            raise CommandError(
                f"e{target.shelf}.{target.slot}: {what}: AoE error {reply_header.error} ({text})"
            )
        if len(reply) < 36:
            raise CommandError(
                f"e{target.shelf}.{target.slot}: {what}: a {len(reply)}-byte reply is too short"
            )
        return reply_header, decode_ata(reply)

    def identify(self) -> bool:
        """IDENTIFY DEVICE, printed as -i/-I ask; True when the device supports SMART."""
        arg = AtaArg(
            sector_count=1,
            cmd_status=AtaCommand.IDENTIFY_DEVICE,
            lba=_IDENTIFY_LBA,
            data=bytes(_ATA_DATA_AREA),
        )
        _h, reply = self.ata(arg, "ATA identify device")
        name = f"e{_h.shelf}.{_h.slot}"
        if is_ata_failure(reply.cmd_status):
            raise CommandError(
                f"{name}: IDENTIFY failed: status 0x{reply.cmd_status:02x} error 0x{reply.err_feature:02x}"
            )
        page = reply.data[:SECTOR_SIZE]
        if len(page) < SECTOR_SIZE:
            raise CommandError(f"{name}: IDENTIFY returned {len(page)} bytes, not {SECTOR_SIZE}")
        info = parse_identify(page)
        if self.opts.pretty:
            print_identify_fields(page)
        elif self.opts.ident:
            print("device identify response:")
            sys.stdout.write(hex_dump(page))
        return info.smart

    def smart(self, name: str, command: SmartCommand, low_lba: int | None) -> int:
        data = bytes(_ATA_DATA_AREA)
        aflags = 0
        if command.sends_data:
            sector = sys.stdin.buffer.read(SECTOR_SIZE)
            data = sector + bytes(_ATA_DATA_AREA - len(sector))
            # The C tool sets W in the AoE header's flags byte by mistake; AFlags is where it belongs.
            aflags = 0x01
        arg = AtaArg(
            aflags=aflags,
            err_feature=command.feature,
            sector_count=1 if (command.returns_data or command.sends_data) else 0,
            cmd_status=AtaCommand.SMART,
            lba=_SMART_LBA | (low_lba or 0),
            data=data,
        )
        _h, reply = self.ata(arg, f"SMART {name}")
        if reply.err_feature & AtaErrorBit.ABRT:
            print("SMART command aborted on target.", file=sys.stderr)
            return 1
        if command.returns_data and len(reply.data) < SECTOR_SIZE:
            raise CommandError(f"SMART {name}: {len(reply.data)} bytes of data, not {SECTOR_SIZE}")
        print("ATA registers:")
        registers = (
            ("Features", reply.err_feature),
            ("Sector Count", reply.sector_count),
            ("LBA Low", reply.lba & 0xFF),
            ("LBA Mid", (reply.lba >> 8) & 0xFF),
            ("LBA High", (reply.lba >> 16) & 0xFF),
            ("Status", reply.cmd_status),
        )
        for label, value in registers:
            print(f"{label:>20}: 0x{value:02x}")
        if command.returns_data:
            print("SMART data:")
            sys.stdout.write(hex_dump(reply.data[:SECTOR_SIZE]))
        return 0


def _id_text(swapped: bytes) -> str:
    # Like aoeping: characters up to the first NUL or unprintable one, trailing blanks kept.
    out = []
    for byte in swapped:
        if byte == 0 or not (0x20 <= byte <= 0x7E):
            break
        out.append(chr(byte))
    return "".join(out)


def print_identify_fields(page: bytes) -> None:
    """aoeping -I: the vendor words and the text fields of an IDENTIFY page."""
    # ATA strings are stored with the two bytes of each word swapped; aoeping swaps the whole
    # page and then reads the vendor words natively, so they print byte-swapped too.
    swapped = bytes(page[i ^ 1] for i in range(len(page)))
    print("device identify fields:")
    for n, word in enumerate((7, 8, 9)):
        value = int.from_bytes(swapped[2 * word : 2 * word + 2], "little")
        print(f"vendor_specific_{n}: 0x{value:X}")
    print("serial_number: " + _id_text(swapped[20:40]))
    print("firmware_rev: " + _id_text(swapped[46:54]))
    print("model: " + _id_text(swapped[54:94]))


def run(opts: Options) -> int:
    if opts.verbose:
        print(f"tag: {opts.tag:x}\neth: {opts.netif}\nshelf: {opts.shelf}\nslot: {opts.slot}", flush=True)
    with open_initiator_socket(opts.netif) as sock:
        pinger = Pinger(sock, opts)
        target = pinger.find_blade()
        if opts.verbose:
            print(f"found e{target.shelf}.{target.slot} with mac {target.src.hex()}", flush=True)
        smartable = False
        if opts.ident or opts.smart:
            smartable = pinger.identify()
        if opts.smart:
            name, command, low_lba = opts.smart
            if not smartable:
                sys.stdout.flush()
                print(f"Error: e{target.shelf}.{target.slot} does not support SMART", file=sys.stderr)
                return 1
            return pinger.smart(name, command, low_lba)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        return run(parse_options(args))
    except CommandError as exc:
        sys.stdout.flush()
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    except ReplyTimeout:
        exit_by_alarm()
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
