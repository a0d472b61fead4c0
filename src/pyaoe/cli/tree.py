"""pyaoe.cli.tree: which initiator tree the aoetools work through (the kernel driver's /sys and
/dev/etherd, or pyaoe's FUSE tree), chosen from --root, PYAOE_ROOT, sysfs_dir or the default.

pyaoe's tree is ROOT/etherd and ROOT/sys, as pyaoe.fuse.tree builds it and the README describes.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "DEFAULT_PYAOE_ROOT",
    "KERNEL_ETHERD_DIR",
    "KERNEL_MODULE_DIR",
    "KERNEL_SYSFS_DIR",
    "ROOT_ENV",
    "SYSFS_DIR_ENV",
    "AoeTree",
    "add_tree_option",
    "read_attribute",
    "select_tree",
]

#: Where the kernel driver's files are (aoetools 36 hard-codes both).
KERNEL_SYSFS_DIR = Path("/sys")
KERNEL_ETHERD_DIR = Path("/dev/etherd")
#: Present while the kernel's aoe module is loaded.
KERNEL_MODULE_DIR = KERNEL_SYSFS_DIR / "module" / "aoe"
#: pyaoe's default mount point; no letter "p" in it, since Debian's aoe-stat skips such paths.
DEFAULT_PYAOE_ROOT = Path("/run/aoe")
#: Environment variables: pyaoe's mount point, and Debian aoe-stat's sysfs location.
ROOT_ENV = "PYAOE_ROOT"
SYSFS_DIR_ENV = "sysfs_dir"

TreeKind = Literal["kernel", "pyaoe"]


@dataclass(frozen=True, slots=True)
class AoeTree:
    """The files one AoE initiator exposes: a sysfs-shaped directory and an etherd directory."""

    kind: TreeKind
    #: /sys for the kernel driver, ROOT/sys for pyaoe.
    sysfs_dir: Path
    #: /dev/etherd for the kernel driver, ROOT/etherd for pyaoe.
    etherd_dir: Path
    #: pyaoe's mount point (None for the kernel's tree).
    root: Path | None = None
    #: Chosen for want of another: nothing named a tree and the kernel's driver is not loaded.
    fallback: bool = False

    @classmethod
    def kernel(cls, sysfs_dir: str | Path = KERNEL_SYSFS_DIR) -> AoeTree:
        return cls("kernel", Path(sysfs_dir), KERNEL_ETHERD_DIR)

    @classmethod
    def pyaoe(cls, root: str | Path = DEFAULT_PYAOE_ROOT, fallback: bool = False) -> AoeTree:
        root = Path(root)
        return cls("pyaoe", root / "sys", root / "etherd", root, fallback)

    @property
    def block_dir(self) -> Path:
        """Where the devices' directories (``etherd!eX.Y``) are."""
        return self.sysfs_dir / "block"

    @property
    def module_dir(self) -> Path:
        return self.sysfs_dir / "module" / "aoe"

    @property
    def parameters_dir(self) -> Path:
        """aoe_iflist, aoe_deadsecs, aoe_maxout, aoe_dyndevs."""
        return self.module_dir / "parameters"

    def parameter(self, name: str) -> Path:
        return self.parameters_dir / name

    def control(self, name: str) -> Path:
        """A control file: discover, err, interfaces, revalidate or flush."""
        return self.etherd_dir / name

    def device(self, name: str) -> Path:
        """The device file eX.Y (a block device node for the kernel, a regular file for pyaoe)."""
        return self.etherd_dir / name

    @property
    def control_files_are_devices(self) -> bool:
        """The kernel's control files are character devices (aoetools refuse anything else);
        pyaoe's are regular files in its FUSE tree."""
        return self.kind == "kernel"

    def missing_initiator(self) -> str | None:
        """What to tell the user when no initiator is behind this tree (pyaoe's is not mounted
        there), or None. The kernel's tree gets aoetools' own words instead."""
        if self.kind != "pyaoe" or self.root is None:
            return None
        try:
            # statfs always reaches a FUSE daemon; stat of the mount point may be answered from cache.
            os.statvfs(self.root)
        except OSError as exc:
            if exc.errno == errno.ENOTCONN:
                return (
                    f"pyaoe's initiator tree at {self.root} does not answer: its daemon is gone "
                    f"(umount {self.root}, then start `pyaoe initiator` again)"
                )
        if os.path.isdir(self.block_dir) or os.path.isdir(self.etherd_dir):
            return None
        if self.fallback:
            return (
                f"no AoE initiator is running: the kernel's aoe driver is not loaded and no pyaoe "
                f"initiator is mounted at {self.root} (start one with `pyaoe initiator`, or `modprobe aoe`)"
            )
        start = f"pyaoe initiator --root {self.root}"
        return f"no pyaoe initiator is mounted at {self.root} (start one with `{start}`)"

    def describe(self) -> str:
        if self.kind == "kernel":
            return f"the kernel aoe driver's tree ({self.sysfs_dir}, {self.etherd_dir})"
        return f"pyaoe's initiator tree at {self.root}"


def select_tree(
    root: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    kernel_module_dir: Path = KERNEL_MODULE_DIR,
) -> AoeTree:
    """The tree a command works through.

    First match wins: ``root`` (the --root option) and then $PYAOE_ROOT name pyaoe's mount point;
    $sysfs_dir names the kernel's sysfs (device nodes stay in /dev/etherd, as in aoetools);
    otherwise the kernel's tree if its aoe module is loaded, else pyaoe's at /run/aoe.
    """
    env = os.environ if environ is None else environ
    if root:
        return AoeTree.pyaoe(root)
    if env.get(ROOT_ENV):
        return AoeTree.pyaoe(env[ROOT_ENV])
    if env.get(SYSFS_DIR_ENV):
        return AoeTree.kernel(env[SYSFS_DIR_ENV])
    if kernel_module_dir.is_dir():
        return AoeTree.kernel()
    return AoeTree.pyaoe(fallback=True)


def add_tree_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        metavar="DIR",
        help=(
            f"work through pyaoe's initiator tree mounted at DIR (default: ${ROOT_ENV}; else "
            f"${SYSFS_DIR_ENV} as the kernel's sysfs; else the kernel driver's {KERNEL_SYSFS_DIR} and "
            f"{KERNEL_ETHERD_DIR} when its module is loaded; else {DEFAULT_PYAOE_ROOT}). pyaoe's own, "
            "as -h is: read before the other arguments only"
        ),
    )


def read_attribute(path: Path) -> str | None:
    """A sysfs-style attribute as a shell's `cat` in $(...) gives it: trailing newlines dropped.

    None when it cannot be read (missing, unreadable, or the read fails).
    """
    if not os.access(path, os.R_OK):
        return None
    try:
        if stat.S_ISDIR(path.stat().st_mode):
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    # bash drops NUL bytes from command substitutions; do the same so output matches.
    return raw.replace(b"\0", b"").decode("utf-8", "surrogateescape").rstrip("\n")
