"""pyaoe.cli.main: the `pyaoe` umbrella command: target, demo, and the rest as they land.

`pyaoe SUBCOMMAND --help` shows each one's options.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

__all__ = ["main"]


def _target(argv: Sequence[str]) -> int:
    from pyaoe.cli.vblade import main_target

    return main_target(argv)


def _initiator(argv: Sequence[str]) -> int:
    from pyaoe.cli.initiator import main as initiator_main

    return initiator_main(argv)


def _bench(argv: Sequence[str]) -> int:
    from pyaoe.cli.bench import main as bench_main

    return bench_main(argv)


def _soak(argv: Sequence[str]) -> int:
    from pyaoe.cli.soak import main as soak_main

    return soak_main(argv)


def _nbd(argv: Sequence[str]) -> int:
    from pyaoe.cli.nbd import main as nbd_main

    return nbd_main(argv)


def _copy(argv: Sequence[str]) -> int:
    from pyaoe.cli.copy import main as copy_main

    return copy_main(argv)


def _demo(argv: Sequence[str]) -> int:
    from pyaoe.demo import main as demo_main

    return demo_main(argv)


_COMMANDS: dict[str, tuple[Callable[[Sequence[str]], int], str]] = {
    "target": (_target, "export files or block devices (vblade's job, several exports at once)"),
    "initiator": (_initiator, "the AoE initiator: devices and the driver's files in a FUSE tree (root)"),
    "nbd": (_nbd, "serve every AoE device as an NBD export (QEMU, qemu-img, nbdcopy) (root)"),
    "copy": (_copy, "copy an image between files, block devices, AoE devices and NBD exports"),
    "bench": (_bench, "benchmark pyaoe against Debian's vblade in network namespaces (root)"),
    "soak": (_soak, "faults and load with a ledger of acknowledged writes: nothing may be lost (root)"),
    "demo": (_demo, "build a small SAN in network namespaces and show pyaoe working (root)"),
}


def _usage() -> str:
    lines = ["usage: pyaoe COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, (_f, text) in _COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 1
    command = _COMMANDS.get(args[0])
    if command is None:
        print(f"pyaoe: unknown command {args[0]!r} (try pyaoe --help)", file=sys.stderr)
        return 1
    return command[0](args[1:])
