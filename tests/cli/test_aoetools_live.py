"""pyaoe's aoe-* commands on a running `pyaoe initiator` (its FUSE tree) talking to two of Debian's
vblade exports: the argument lists aoetools 36 accepts beyond the plain ones do what they do on
the kernel's driver (issue 13's table), and without an initiator the commands say what is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyaoe import __version__
from pyaoe.lab.netns import Lab, Link
from support.initiator_daemon import RunningDaemon, running_initiator
from support.target import RunningTarget, start_target
from support.wait import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.interop]

VBLADE = ("/usr/sbin/vblade",)
MiB = 1 << 20
SLOTS = (2, 3)


def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    module = "pyaoe.cli." + name.replace("-", "_")
    env = {k: v for k, v in os.environ.items() if k not in ("PYAOE_ROOT", "sysfs_dir")}
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=60
    )


@dataclass
class Live:
    lab: Lab
    here: Link
    there: Link
    disks: dict[int, Path]
    targets: dict[int, RunningTarget]
    daemon: RunningDaemon
    stack: ExitStack

    def restart(self, slot: int) -> None:
        """Stop the export of slot ``slot`` and start it again (its file may have grown)."""
        self.targets[slot].stop()
        args = ["1", str(slot), self.there.ifname, str(self.disks[slot])]
        self.targets[slot] = self.stack.enter_context(
            start_target(self.lab, self.there, args, listen=self.here, command=VBLADE)
        )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with Lab() as lab, ExitStack() as stack:
        ns = lab.netns("live")
        here, there = lab.veth(None, ns)
        disks, targets = {}, {}
        for slot in SLOTS:
            disks[slot] = tmp_path / f"e1.{slot}.img"
            disks[slot].write_bytes(b"")
            os.truncate(disks[slot], 8 * MiB)
            args = ["1", str(slot), there.ifname, str(disks[slot])]
            targets[slot] = stack.enter_context(start_target(lab, there, args, listen=here, command=VBLADE))
        daemon = stack.enter_context(running_initiator(lab, here.ifname))
        for slot in SLOTS:
            name = f"e1.{slot}"
            wait_until(lambda n=name: (daemon.sys / "block" / f"etherd!{n}" / "state").is_file(), 15, name)
            wait_until(lambda n=name: daemon.attr(n, "state") == "up\n", 15, f"{name} up")
        yield Live(lab, here, there, disks, targets, daemon, stack)


def test_the_table_on_pyaoes_initiator(live: Live) -> None:
    root = str(live.daemon.root)
    out = tool("aoe-discover", "--root", root, "now")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")

    out = tool("aoe-stat", "--root", root, "e1.3", "extra")
    assert (out.returncode, out.stderr) == (0, "")
    assert [line.split()[0] for line in out.stdout.splitlines()] == ["e1.3"]

    out = tool("aoe-version", "--root", root, "extra")
    assert out.returncode == 0
    assert out.stdout.splitlines()[2] == f"    running aoe driver:\tpyaoe {__version__} at {root}"

    # Two names: the initiator takes the first, as the kernel's does; e1.2 grew meanwhile.
    os.truncate(live.disks[2], 16 * MiB)
    live.restart(2)
    out = tool("aoe-revalidate", "--root", root, "e1.2", "e1.3")
    assert (out.returncode, out.stderr) == (0, "")
    assert live.daemon.attr("e1.2", "size") == f"{16 * MiB // 512}\n"
    assert os.stat(live.daemon.etherd / "e1.2").st_size == 16 * MiB

    # -a with a name flushes every device not in use; stop the targets first so that nothing
    # announces them again.
    for target in live.targets.values():
        target.stop()
    out = tool("aoe-flush", "--root", root, "-a", "e1.2")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert os.listdir(live.daemon.sys / "block") == []
    assert not (live.daemon.etherd / "e1.2").exists() and not (live.daemon.etherd / "e1.3").exists()


def test_without_an_initiator_each_command_says_what_is_missing(tmp_path: Path) -> None:
    """--root naming a directory where no initiator is mounted."""
    root = tmp_path / "nothing"
    root.mkdir()
    hint = f"no pyaoe initiator is mounted at {root} (start one with `pyaoe initiator --root {root}`)"
    for name, args in (
        ("aoe-stat", []),
        ("aoe-discover", []),
        ("aoe-flush", ["-a"]),
        ("aoe-revalidate", ["e1.2"]),
        ("aoe-interfaces", []),
    ):
        out = tool(name, "--root", str(root), *args)
        separator = " Error: " if name == "aoe-stat" else ": "
        assert (out.returncode, out.stdout, out.stderr) == (1, "", f"{name}{separator}{hint}\n")


def test_a_tree_whose_daemon_died_is_named_so() -> None:
    """The initiator killed (SIGKILL: no unmount): its mount point answers ENOTCONN."""
    with Lab() as lab:
        here, _there = lab.veth(None, lab.netns("dead"))
        with running_initiator(lab, here.ifname) as daemon:
            daemon.proc.kill()
            daemon.proc.wait(10)
            root = daemon.root
            out = tool("aoe-stat", "--root", str(root))
            assert (out.returncode, out.stdout, out.stderr) == (
                1,
                "",
                f"aoe-stat Error: pyaoe's initiator tree at {root} does not answer: its daemon is gone "
                f"(umount {root}, then start `pyaoe initiator` again)\n",
            )
            assert tool("aoe-discover", "--root", str(root)).stderr.startswith(
                f"aoe-discover: pyaoe's initiator tree at {root} does not answer"
            )
