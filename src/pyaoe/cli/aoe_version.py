"""pyaoe.cli.aoe_version: `aoe-version`, aoetools 36's version summary in its `%22s:\\t%s` lines:
these aoetools (pyaoe's, aoetools-36 compatible), the installed and the running initiator
(the kernel's aoe module and/or pyaoe's initiator when its tree is mounted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from pyaoe import __version__
from pyaoe.cli.common import OneLineParser
from pyaoe.cli.control import run_tool, tool_arguments
from pyaoe.cli.tree import (
    DEFAULT_PYAOE_ROOT,
    KERNEL_SYSFS_DIR,
    ROOT_ENV,
    SYSFS_DIR_ENV,
    AoeTree,
    add_tree_option,
    read_attribute,
)

__all__ = ["AOETOOLS_VERSION", "PROG", "installed_kernel_driver", "main", "running_kernel_driver"]

PROG = "aoe-version"
#: The aoetools release these commands behave as.
AOETOOLS_VERSION = "36"
UNKNOWN = "(unknown)"
NONE = "(none)"

_DESCRIPTION = """\
Print the versions of the AoE software, one `%22s:\\t%s` line each as aoetools 36 does:
aoetools (36, then pyaoe's version), the installed aoe driver (the kernel module's version
from modinfo, and pyaoe's initiator) and the running one (the loaded kernel module's, and
pyaoe's initiator when its tree is mounted at --root, $PYAOE_ROOT or /run/aoe). Arguments are
ignored, as aoetools ignores them. Exit 0."""


def installed_kernel_driver() -> str | None:
    """The aoe module's version as modinfo tells it (a standalone driver's "version"
    parameter first, as aoetools looks), or None."""
    modinfo = shutil.which("modinfo") or next(
        (p for p in ("/sbin/modinfo", "/usr/sbin/modinfo") if os.access(p, os.X_OK)), None
    )
    if modinfo is None:
        return None
    try:
        # cwd=/ : modinfo takes a file named "aoe" in the working directory for the module.
        out = subprocess.run(
            [modinfo, "aoe"], capture_output=True, text=True, cwd="/", timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.splitlines()
    for line in lines:
        if line.startswith("parm:") and "version:aoe module" in line:
            return line.split()[-1]
    for line in lines:
        if line.startswith("version:") and line.split()[1:]:
            return line.split()[-1]
    return None


def running_kernel_driver(sysfs_dir: Path) -> str | None:
    """The loaded aoe module's version: None when it is not loaded, UNKNOWN when it has none."""
    module = sysfs_dir / "module" / "aoe"
    if not os.path.isdir(module):
        return None
    direct = read_attribute(module / "version")
    if direct is not None:
        return direct
    for path in sorted(module.rglob("version")):
        value = read_attribute(path)
        if value is not None:
            return value
    return UNKNOWN


def _pyaoe_root(option: str | None) -> Path:
    return Path(option or os.environ.get(ROOT_ENV) or DEFAULT_PYAOE_ROOT)


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, usage="%(prog)s [--root DIR]", description=_DESCRIPTION)
    add_tree_option(parser)
    parser.add_argument("ignored", nargs="*", metavar="arg", help="ignored")
    return parser


def _body(argv: Sequence[str]) -> int:
    args, _ignored = tool_arguments(build_parser(), argv)
    tree = AoeTree.pyaoe(_pyaoe_root(args.root))
    pyaoe_running = read_attribute(tree.module_dir / "version")

    installed = [v for v in (installed_kernel_driver(),) if v]
    installed.append(f"pyaoe {__version__}")
    running = []
    kernel = running_kernel_driver(Path(os.environ.get(SYSFS_DIR_ENV) or KERNEL_SYSFS_DIR))
    if kernel is not None:
        running.append(kernel)
    if pyaoe_running is not None:
        running.append(f"pyaoe {pyaoe_running or UNKNOWN} at {tree.root}")
    lines = (
        ("aoetools", f"{AOETOOLS_VERSION} (pyaoe {__version__}, aoetools-{AOETOOLS_VERSION} compatible)"),
        ("installed aoe driver", ", ".join(installed)),
        ("running aoe driver", ", ".join(running) or NONE),
    )
    for desc, value in lines:
        print(f"{desc:>22}:\t{value}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
