"""pyaoe.cli.aoe_sancheck: `aoe-sancheck`, aoetools' storage network check: discover AoE targets
on every ARP-capable Ethernet interface, probe each path's payload size, report MTU problems.

aoe-sancheck [-v] [-t secs]
"""

from __future__ import annotations

import contextlib
import logging
import select
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyaoe.cli.common import CommandError, OneLineParser
from pyaoe.cli.rawaoe import parse_atoi
from pyaoe.errors import FrameError
from pyaoe.net import InterfaceInfo, PacketSocket, initiator_filter, interface_info, list_interfaces
from pyaoe.net.interfaces import NoSuchInterfaceError
from pyaoe.protocol import (
    ATA_HLEN,
    BROADCAST_MAC,
    BROADCAST_SHELF,
    BROADCAST_SLOT,
    SECTOR_SIZE,
    TAG_USER_BIT,
    AtaArg,
    AtaCommand,
    Command,
    ConfigArg,
    Frame,
    Header,
    HeaderFlag,
    encode_frame,
)
from pyaoe.protocol.config import decode_config
from pyaoe.protocol.header import decode_header

__all__ = ["main", "build_parser", "Lun", "LocalPath", "probe", "report"]

PROG = "aoe-sancheck"
log = logging.getLogger("pyaoe.sancheck")

#: aoe-sancheck probes the first 32 interfaces (by name).
MAX_INTERFACES = 32
#: Seconds of silence on an interface after which probing it stops (aoe-sancheck: 5).
DEFAULT_WAIT = 5
_RULE = "=" * 42
_RCVBUF = 4 << 20


@dataclass
class Lun:
    """One target (shelf.slot at one MAC) as seen through one local interface."""

    shelf: int
    slot: int
    mac: bytes
    #: Sector count from the config reply (the target's payload per frame / 512).
    nsect: int
    #: Identifies this lun's probes: the tag's bits 16-31.
    probe_id: int
    #: Largest probe (in sectors) that got an answer: what the path carries.
    maxsect: int = 0


@dataclass
class LocalPath:
    """One local interface, its socket and the luns found through it."""

    info: InterfaceInfo
    sock: PacketSocket | None = None
    luns: dict[tuple[int, int, bytes], Lun] = field(default_factory=dict)
    last_useful: float = 0.0


def candidate_interfaces() -> list[InterfaceInfo]:
    """Ethernet interfaces that use ARP and are not loopback, by name, at most 32."""
    found = []
    for name in sorted(list_interfaces()):
        try:
            info = interface_info(name)
        except NoSuchInterfaceError:
            continue
        if info.ethernet and not info.loopback and not info.noarp:
            found.append(info)
    return found[:MAX_INTERFACES]


def pci_id(info: InterfaceInfo) -> str:
    """vendor:device of the interface's PCI device, or "" (no device, or /sys shows another
    network namespace than ours: it is only trusted when its ifindex matches)."""
    base = Path("/sys/class/net") / info.name
    try:
        if int((base / "ifindex").read_text()) != info.index:
            return ""
        vendor = (base / "device" / "vendor").read_text()[2:6]
        device = (base / "device" / "device").read_text()[2:6]
    except (OSError, ValueError):
        return ""
    return f"{vendor}:{device}"


class Prober:
    """Discovery and payload probes on every path, driven by one poll loop."""

    def __init__(self, paths: list[LocalPath], wait: float) -> None:
        self.paths = paths
        self.wait = wait
        self._next_id = 0

    def discover(self, path: LocalPath) -> None:
        sock = path.sock
        if sock is None:
            return
        header = Header(
            dst=BROADCAST_MAC,
            src=sock.mac,
            shelf=BROADCAST_SHELF,
            slot=BROADCAST_SLOT,
            command=Command.QUERY_CONFIG,
            tag=TAG_USER_BIT,
        )
        try:
            sock.send(encode_frame(Frame(header, ConfigArg(aoe_version=0))))
        except OSError as exc:
            print(f"skipping {path.info.name}, discover failure: {exc.strerror or exc}", file=sys.stderr)
            sock.close()
            path.sock = None

    def send_probes(self, path: LocalPath, lun: Lun) -> None:
        """IDENTIFY requests padded to every multiple of 512 bytes the MTU allows, largest
        first; the tag's low byte says how many sectors of padding each one carries."""
        sock = path.sock
        if sock is None:
            return
        room = (sock.mtu - ATA_HLEN) & ~(SECTOR_SIZE - 1)
        for size in range(room, 0, -SECTOR_SIZE):
            header = Header(
                dst=lun.mac,
                src=sock.mac,
                shelf=lun.shelf,
                slot=lun.slot,
                command=Command.ATA,
                tag=(lun.probe_id << 16) | (size // SECTOR_SIZE),
            )
            arg = AtaArg(sector_count=1, cmd_status=AtaCommand.IDENTIFY_DEVICE, data=bytes(size))
            try:
                sock.send(encode_frame(Frame(header, arg)))
            except OSError as exc:
                log.debug("%s: probe of %d bytes: %s", path.info.name, size, exc)

    def handle(self, path: LocalPath, frame: bytes) -> bool:
        """Take one received frame; True when it taught us something (it resets the wait)."""
        try:
            h = decode_header(frame)
        except FrameError:
            return False
        if h.flags & (HeaderFlag.RESPONSE | HeaderFlag.ERROR) != HeaderFlag.RESPONSE:
            return False
        if not h.tag & TAG_USER_BIT:
            return False
        key = (h.shelf, h.slot, h.src)
        if h.command == Command.QUERY_CONFIG:
            if key in path.luns or h.shelf == BROADCAST_SHELF or h.slot == BROADCAST_SLOT:
                return False
            try:
                nsect = decode_config(frame).sector_count
            except FrameError:
                return False
            lun = Lun(h.shelf, h.slot, h.src, nsect, probe_id=0x8000 | self._next_id)
            self._next_id = (self._next_id + 1) & 0x7FFF
            path.luns[key] = lun
            self.send_probes(path, lun)
            return True
        if h.command == Command.ATA:
            probed = path.luns.get(key)
            if probed is None or h.tag >> 16 != probed.probe_id:
                return False
            probed.maxsect = max(probed.maxsect, h.tag & 0xFF)
            return True
        return False

    def run(self) -> None:
        poller = select.poll()
        by_fd: dict[int, LocalPath] = {}
        now = time.monotonic()
        for path in self.paths:
            self.discover(path)
            if path.sock is not None:
                by_fd[path.sock.fileno()] = path
                poller.register(path.sock.fileno(), select.POLLIN)
                path.last_useful = now
        while by_fd:
            now = time.monotonic()
            for fd, path in list(by_fd.items()):
                if now - path.last_useful >= self.wait:
                    poller.unregister(fd)
                    del by_fd[fd]
            if not by_fd:
                break
            soonest = min(p.last_useful for p in by_fd.values()) + self.wait
            for fd, _event in poller.poll(max(0, int((soonest - now) * 1000) + 1)):
                path = by_fd[fd]
                if path.sock is None:
                    continue
                try:
                    frame = path.sock.socket.recv(65536)
                except OSError:
                    continue
                if self.handle(path, frame):
                    path.last_useful = time.monotonic()


def probe(interfaces: list[InterfaceInfo], wait: float) -> list[LocalPath]:
    paths = [LocalPath(info) for info in interfaces]
    with contextlib.ExitStack() as stack:
        for path in paths:
            try:
                path.sock = stack.enter_context(
                    PacketSocket(path.info.name, bpf_program=initiator_filter(path.info.mac), rcvbuf=_RCVBUF)
                )
            except OSError as exc:
                print(f"skipping {path.info.name}: {exc.strerror or exc}", file=sys.stderr)
        Prober(paths, wait).run()
    return paths


def report(paths: list[LocalPath], verbose: bool = False) -> str:
    """The INTERFACE SUMMARY and DEVICE SUMMARY report (and with ``verbose``, every lun)."""
    lines = [_RULE, "INTERFACE SUMMARY", _RULE, "Name\tStatus\tMTU\tPCI ID"]
    for path in paths:
        info = path.info
        lines.append(f"{info.name}\t{'UP' if info.up else 'DN'}\t{info.mtu}\t{pci_id(info)}")
    lines += [_RULE, "DEVICE SUMMARY", _RULE, "Device\tMacs\tPayload\tLocal Interfaces"]
    targets = sorted({(lun.shelf, lun.slot) for p in paths for lun in p.luns.values()})
    for shelf, slot in targets:
        lines += _device_lines(paths, shelf, slot)
    text = "\n".join(lines) + "\n"
    if verbose:
        for path in paths:
            text += f"{path.info.name}:\n"
            for lun in sorted(path.luns.values(), key=lambda x: (x.shelf, x.slot, x.mac), reverse=True):
                text += f"e{lun.shelf}.{lun.slot} {lun.mac.hex()} {lun.maxsect}\n"
            text += "\n"
    return text


def _device_lines(paths: list[LocalPath], shelf: int, slot: int) -> list[str]:
    seen = [(p, [lun for lun in p.luns.values() if (lun.shelf, lun.slot) == (shelf, slot)]) for p in paths]
    seen = [(p, luns) for p, luns in seen if luns]
    macs = {lun.mac for _p, luns in seen for lun in luns}
    nsect = seen[-1][1][-1].nsect
    top_mtu = max(p.info.mtu for p, _luns in seen)
    names = ",".join(p.info.name for p, _luns in seen)
    lines = [f"e{shelf}.{slot}\t{len(macs):4d}\t{nsect * SECTOR_SIZE}\t{names}"]
    if len(macs) != len(seen):
        lines.append("   Mismatched number of local vs remote interfaces")
    for path, luns in seen:
        mtu = path.info.mtu
        for lun in luns:
            if lun.maxsect < (mtu - ATA_HLEN) // SECTOR_SIZE:
                lines.append(
                    f"   The path {path.info.name}->{lun.mac.hex()} is only capable of "
                    f"{lun.maxsect * SECTOR_SIZE} byte payloads"
                )
        if mtu < nsect * SECTOR_SIZE + ATA_HLEN:
            lines.append(f"   {path.info.name}: MTU ({mtu}) not set optimally for device's capable payload")
        if mtu < top_mtu:
            lines.append(f"   {path.info.name}: MTU different from other interfaces ({mtu} vs. {top_mtu})")
    return lines


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        usage="%(prog)s [-h] [-t secs] [-v]",
        description=(
            "Probe every ARP-capable Ethernet interface for AoE targets, measure the payload each "
            "path carries, and report interfaces, devices and MTU problems (aoetools' report). "
            "Stops once no interface has heard anything new for the -t wait. Arguments other than "
            "-h and -t are aoetools': -v alone also lists what each interface sees, anything else "
            "is ignored."
        ),
    )
    parser.add_argument(
        "args", nargs="*", metavar="-v", help="alone: also list what each interface sees (else ignored)"
    )
    parser.add_argument(
        "-t",
        dest="wait",
        metavar="secs",
        help=f"seconds of silence before giving up on an interface (default {DEFAULT_WAIT}; pyaoe only)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    try:
        args, unknown = build_parser().parse_known_args(args_in)
        wait = DEFAULT_WAIT if args.wait is None else parse_atoi(args.wait, "wait", 1, 3600)
        # aoetools lists when its only argument is -v (argc == 2) and ignores any other.
        verbose = [*unknown, *args.args] == ["-v"]
        print("Probing...", end="", flush=True)
        paths = probe(candidate_interfaces(), wait)
        print("done.")
        sys.stdout.write(report(paths, verbose))
    except CommandError as exc:
        sys.stdout.flush()
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
