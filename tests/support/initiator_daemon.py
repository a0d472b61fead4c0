"""Run `pyaoe initiator` (the FUSE daemon) in the root namespace, where the test process sees its
mount, and wait until the tree is mounted; stop it and leave nothing mounted, even on failure.
Its control socket is in a temporary directory (never the default one). Also: a target at the
other end of a veth pair (net_with_target), and nftables rules that hide announcements.

    with running_initiator(lab, here.ifname, "--deadsecs", "3") as daemon:
        wait_until(lambda: (daemon.etherd / "e1.2").exists())
        daemon.ctl("list")                  # pyaoe ctl --initiator --socket ... list
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyaoe.lab.netns import Lab, Link
from support.target import VBLADE, RunningTarget, start_target
from support.wait import wait_until

__all__ = [
    "RunningDaemon",
    "announcements_dropped",
    "running_initiator",
    "unique_root",
    "PYAOE_INITIATOR",
    "CTL",
]

PYAOE_INITIATOR = (sys.executable, "-m", "pyaoe", "initiator")
CTL = (sys.executable, "-m", "pyaoe", "ctl", "--initiator")
_roots = itertools.count()


def unique_root(prefix: str = "aoe-d") -> Path:
    """A fresh mount point under /run, with no letter "p" (Debian's aoe-stat skips such paths)."""
    root = Path(f"/run/{prefix}{os.getpid()}-{next(_roots)}")
    if "p" in str(root):
        raise ValueError(f"{root} has a letter p in it")
    return root


@dataclass
class RunningDaemon:
    proc: subprocess.Popen[bytes]
    root: Path
    stderr_path: Path
    socket: Path | None = None

    @property
    def etherd(self) -> Path:
        return self.root / "etherd"

    @property
    def sys(self) -> Path:
        return self.root / "sys"

    def attr(self, device: str, name: str) -> str:
        return (self.sys / "block" / f"etherd!{device}" / name).read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`pyaoe ctl --initiator --socket SOCK ARGS`, as a user types it."""
        result = subprocess.run(
            [*CTL, "--socket", str(self.socket), *args], capture_output=True, text=True, timeout=60
        )
        if check:
            assert result.returncode == 0, f"pyaoe ctl --initiator {' '.join(args)}: {result.stderr}"
        return result

    def ctl_json(self, *args: str) -> Any:
        return json.loads(self.ctl("--json", *args).stdout)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"pyaoe initiator ignored SIGTERM:\n{self.stderr()}") from None


@contextlib.contextmanager
def running_initiator(
    lab: Lab, iflist: str, *options: str, root: Path | None = None, timeout: float = 15.0
) -> Iterator[RunningDaemon]:
    root = root or unique_root()
    err = tempfile.NamedTemporaryFile(prefix="pyaoe-initiator-", suffix=".err", delete=False)  # noqa: SIM115
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    workdir = Path(tempfile.mkdtemp(prefix="pyaoe-initiator-"))
    socket = None
    if "--control-socket" not in options:
        socket = workdir / "initiator.sock"
        options = ("--control-socket", str(socket), *options)
    argv = [*PYAOE_INITIATOR, "--root", str(root), "--iflist", iflist, "-v", *options]
    try:
        proc = lab.popen(None, argv, stderr=err, stdout=subprocess.DEVNULL, env=env)
    finally:
        err.close()
    daemon = RunningDaemon(proc, root, Path(err.name), socket)
    try:
        wait_until(
            lambda: proc.poll() is not None or (os.path.ismount(root) and (root / "etherd").is_dir()),
            timeout,
            "the mount",
        )
        if proc.poll() is not None:
            raise AssertionError(f"pyaoe initiator exited {proc.returncode}:\n{daemon.stderr()}")
        yield daemon
    except BaseException:
        # The daemon's log explains most failures; pytest shows this with the failure.
        print(f"--- pyaoe initiator's stderr ---\n{daemon.stderr()}", file=sys.stderr)
        raise
    finally:
        try:
            if proc.poll() is None:
                daemon.stop()
        finally:
            if os.path.ismount(root):
                subprocess.run(["umount", "-l", str(root)], check=False)
            with contextlib.suppress(OSError):
                root.rmdir()
            daemon.stderr_path.unlink(missing_ok=True)
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def announcements_dropped(ifname: str) -> Iterator[tuple[Callable[[], int], Callable[[], int]]]:
    """Drop broadcast AoE frames arriving on ``ifname`` (a target's start-up announcement);
    answers to our queries are unicast and pass. Yields two counters: the frames dropped, and
    the broadcast AoE frames (discoveries) sent out of ``ifname``.

    At the initiator's ingress, not the target's egress: a dropped send fails with ENOBUFS,
    which a target may not survive."""
    table = f"fuse_test_{ifname}"
    rules = (
        f"table netdev {table} {{\n"
        f'  chain in {{ type filter hook ingress device "{ifname}" priority 0;\n'
        "    ether type 0x88a2 ether daddr ff:ff:ff:ff:ff:ff counter drop; }\n"
        f'  chain out {{ type filter hook egress device "{ifname}" priority 0;\n'
        "    ether type 0x88a2 ether daddr ff:ff:ff:ff:ff:ff counter; }\n"
        "}\n"
    )
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)

    def counter(index: int) -> int:
        out = subprocess.run(["nft", "list", "table", "netdev", table], capture_output=True, text=True).stdout
        return int(out.split("counter packets ")[index + 1].split()[0])

    try:
        yield (lambda: counter(0)), (lambda: counter(1))
    finally:
        subprocess.run(["nft", "delete", "table", "netdev", table], check=False)


#: The targets the tests run against: pyaoe's vblade and Debian's.
TARGETS = {"pyaoe": VBLADE, "vblade": ("/usr/sbin/vblade",)}
DISK_SIZE = 64 << 20


@dataclass
class Net:
    """A target (TARGETS[kind]) serving e1.2 from ``disk`` in namespace ``ns``, at the other end
    of a veth pair from ``here`` (root namespace)."""

    lab: Lab
    ns: str
    here: Link
    there: Link
    disk: Path
    target: RunningTarget
    kind: str


@contextlib.contextmanager
def net_with_target(kind: str, tmp_path: Path) -> Iterator[Net]:
    with Lab() as lab:
        ns = lab.netns("fuse")
        here, there = lab.veth(None, ns)
        disk = tmp_path / "disk.img"
        with disk.open("wb") as f:
            f.truncate(DISK_SIZE)
        args = ["1", "2", there.ifname, str(disk)]
        with start_target(lab, there, args, listen=here, command=TARGETS[kind]) as target:
            yield Net(lab, ns, here, there, disk, target, kind)


def device_up(daemon: RunningDaemon, name: str = "e1.2", timeout: float = 15.0) -> Path:
    path = daemon.etherd / name
    wait_until(path.exists, timeout, f"{path}")
    wait_until(lambda: daemon.attr(name, "state") == "up\n", timeout, f"{name} up")
    return path
