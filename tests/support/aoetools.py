"""Debian's aoetools (the shell scripts in /usr/sbin) and pyaoe's, run side by side on the same fake
kernel-driver tree: /sys and /dev/etherd faked in a mount namespace, control files that record
every write. What each run printed, its exit status and what it wrote are one comparable Outcome.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from support.faketree import FakeDevice, Recorder, Scratch, World, write_pyaoe_tree, write_sysfs

__all__ = [
    "DEVICES",
    "ENV",
    "KERNEL_PARAMETERS",
    "MODULES",
    "KernelWorld",
    "Outcome",
    "debian",
    "kernel_world",
    "nodes",
    "ours",
    "pyaoe_root",
    "run",
]

MODULES = {
    "aoe-stat": "pyaoe.cli.aoe_stat",
    "aoe-discover": "pyaoe.cli.aoe_discover",
    "aoe-interfaces": "pyaoe.cli.aoe_interfaces",
    "aoe-mkdevs": "pyaoe.cli.aoe_mkdevs",
    "aoe-mkshelf": "pyaoe.cli.aoe_mkshelf",
    "aoe-flush": "pyaoe.cli.aoe_flush",
    "aoe-revalidate": "pyaoe.cli.aoe_revalidate",
    "aoe-version": "pyaoe.cli.aoe_version",
}
# Debian's scripts call each other (aoe-flush runs aoe-stat): theirs come first on PATH.
ENV = {
    k: v for k, v in os.environ.items() if k not in ("PYAOE_ROOT", "sysfs_dir", "n_shelves", "n_partitions")
}
ENV["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
DEVICES = [FakeDevice("e1.0"), FakeDevice("e1.1", state="down"), FakeDevice("e2.0", payload=8704)]
KERNEL_PARAMETERS = {
    "aoe_iflist": "eth0 eth1\n",
    "aoe_dyndevs": "1\n",
    "aoe_deadsecs": "180\n",
    "aoe_maxout": "64\n",
}
CONTROLS = ("discover", "interfaces", "revalidate", "flush")


def ours(tool: str) -> list[str]:
    return [sys.executable, "-m", MODULES[tool]]


def debian(tool: str) -> list[str]:
    return [f"/usr/sbin/{tool}"]


def run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, env=dict(env or ENV), timeout=60)


@dataclass
class Outcome:
    stdout: str
    stderr: str
    code: int
    written: dict[str, bytes]


@dataclass
class KernelWorld:
    """The kernel driver's files, faked: /sys (devices, module parameters, class/net) and
    /dev/etherd with recording control devices. Commands run in /dev/cwd, an empty directory
    (aoetools' unquoted arguments would expand wildcards against its files)."""

    world: World
    recorders: dict[str, Recorder]

    def run(self, argv: Sequence[str], setup: str = "", env: Mapping[str, str] | None = None) -> Outcome:
        for rec in self.recorders.values():
            rec.data()  # forget what an earlier run wrote
        setup = f"{setup} && cd /dev/cwd" if setup else "cd /dev/cwd"
        proc = self.world.run(argv, setup=setup, env={**ENV, **(env or {})})
        written = {name: rec.data() for name, rec in self.recorders.items()}
        return Outcome(proc.stdout.decode(), proc.stderr.decode(), proc.returncode, written)

    def both(self, tool: str, *args: str, setup: str = "", env: Mapping[str, str] | None = None) -> Outcome:
        """Run Debian's and our ``tool``; assert the same output, exit code and writes."""
        theirs = self.run([*debian(tool), *args], setup, env)
        mine = self.run([*ours(tool), *args], setup, env)
        assert mine == theirs
        return mine

    def pair(
        self, tool: str, *args: str, setup: str = "", env: Mapping[str, str] | None = None
    ) -> tuple[Outcome, Outcome]:
        """Debian's and our ``tool``'s outcomes, for a difference the README lists."""
        return self.run([*debian(tool), *args], setup, env), self.run([*ours(tool), *args], setup, env)


def kernel_world(
    scratch: Scratch,
    controls: Sequence[str] = CONTROLS,
    parameters: Mapping[str, str] | None = KERNEL_PARAMETERS,
    recorded_parameters: Sequence[str] = (),
    version: str | None = "85",
    devices: Sequence[FakeDevice] = DEVICES,
) -> KernelWorld:
    world = World(scratch)
    write_sysfs(world.sys, devices, parameters, version, netifs=("eth0", "eth1"))
    recorders = {name: scratch.recorder(world.etherd / name) for name in controls}
    for name in recorded_parameters:
        recorders[name] = scratch.recorder(world.sys / "module" / "aoe" / "parameters" / name)
    (world.etherd / "err").write_text("")
    (world.dev / "cwd").mkdir()
    return KernelWorld(world, recorders)


def pyaoe_root(scratch: Scratch, name: str = "aoe", devices: Sequence[FakeDevice] = DEVICES) -> Path:
    root = scratch.path / name
    write_pyaoe_tree(root, devices)
    return root


def nodes(directory: Path) -> dict[str, tuple[str, int, int, int]]:
    """Each entry's kind (b, c, or ?), permission bits, major and minor."""
    result = {}
    for name in os.listdir(directory):
        st = os.lstat(directory / name)
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else "?"
        result[name] = (kind, stat.S_IMODE(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev))
    return result
