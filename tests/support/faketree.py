"""support.faketree: fake AoE initiator trees for testing the aoetools: the kernel driver's sysfs
and /dev/etherd, and pyaoe's tree, in a scratch tmpfs, with control files whose writes are recorded.

A Scratch is a tmpfs of our own under /srv (device nodes work there even where /run is nodev), at a
path with no letter "p" (Debian's aoe-stat skips such paths). World runs a command with that scratch's
sys/ and dev/ mounted on /sys and /dev, a fresh /run and /proc, so the tools (ours and Debian's,
which hard-code /dev/etherd) see a fake kernel driver and no udev.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import subprocess
import tty
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CONTROL_FILES",
    "FakeDevice",
    "Recorder",
    "Scratch",
    "World",
    "write_pyaoe_tree",
    "write_sysfs",
]

#: The control files of /dev/etherd (and of pyaoe's ROOT/etherd).
CONTROL_FILES = ("discover", "err", "interfaces", "revalidate", "flush")
_SCRATCH_BASES = ("/srv", "/mnt", "/")
# Character devices the shell tools need in a fake /dev, and /dev/full to make writes fail.
_MEM_NODES = {"null": 3, "zero": 5, "full": 7, "urandom": 9}


@dataclass
class FakeDevice:
    """One device's sysfs attributes; None leaves the attribute out (aoe-stat shows "(NA)")."""

    name: str
    sectors: int | str | None = 2097152
    netif: str | None = "eth0"
    state: str | None = "up"
    payload: int | str | None = 1024
    #: The minor number in the "dev" file (152:MINOR); None: 16 times the device's position.
    minor: int | None = None
    dev_file: bool = True
    mac: str | None = "5254000a0b0c"
    firmware_version: str | None = "0x4019"
    #: Other attributes, raw (no newline added).
    extra: Mapping[str, str] = field(default_factory=dict)


def _attr(path: Path, value: object) -> None:
    if value is not None:
        path.write_text(f"{value}\n")


def write_sysfs(
    sysfs_dir: Path,
    devices: Sequence[FakeDevice] = (),
    parameters: Mapping[str, str] | None = None,
    version: str | None = None,
    netifs: Iterable[str] = (),
) -> None:
    """A sysfs-shaped tree: block/etherd!eX.Y/, module/aoe/{parameters/,version}, class/net/IF/.

    ``parameters`` values are written as given (the kernel's end in a newline); None makes no
    module/aoe directory at all (the module is not loaded).
    """
    (sysfs_dir / "block").mkdir(parents=True, exist_ok=True)
    for index, dev in enumerate(devices):
        d = sysfs_dir / "block" / f"etherd!{dev.name}"
        d.mkdir()
        _attr(d / "size", dev.sectors)
        _attr(d / "netif", dev.netif)
        _attr(d / "state", dev.state)
        _attr(d / "payload", dev.payload)
        _attr(d / "mac", dev.mac)
        _attr(d / "firmware-version", dev.firmware_version)
        if dev.dev_file:
            _attr(d / "dev", f"152:{index * 16 if dev.minor is None else dev.minor}")
        for name, raw in dev.extra.items():
            (d / name).write_text(raw)
    if parameters is not None:
        params = sysfs_dir / "module" / "aoe" / "parameters"
        params.mkdir(parents=True, exist_ok=True)
        for name, value in parameters.items():
            (params / name).write_text(value)
        if version is not None:
            (sysfs_dir / "module" / "aoe" / "version").write_text(f"{version}\n")
    for name in netifs:
        (sysfs_dir / "class" / "net" / name).mkdir(parents=True, exist_ok=True)


def write_pyaoe_tree(
    root: Path,
    devices: Sequence[FakeDevice] = (),
    parameters: Mapping[str, str] | None = None,
    version: str | None = "0.1.0",
) -> None:
    """pyaoe's tree (as pyaoe.fuse.tree builds it): ROOT/sys as write_sysfs, ROOT/etherd with
    empty regular control files and one regular file per device."""
    if parameters is None:
        parameters = {"aoe_iflist": "\n", "aoe_deadsecs": "180\n", "aoe_maxout": "64\n", "aoe_dyndevs": "1\n"}
    write_sysfs(root / "sys", devices, parameters, version)
    etherd = root / "etherd"
    etherd.mkdir(parents=True, exist_ok=True)
    for name in CONTROL_FILES:
        (etherd / name).touch()
    for dev in devices:
        (etherd / dev.name).touch()


class Recorder:
    """A character device that records what is written to it: a pty's slave, bind-mounted over a
    file; data() returns the bytes written so far. (A node made with mknod for the slave's
    number does not work: the kernel finds a pty slave through its devpts inode.)"""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no output processing: bytes arrive as written, NULs too
        os.set_blocking(self.master, False)
        self.slave_path = os.ttyname(self.slave)

    def data(self) -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class Scratch:
    """A private tmpfs at /srv/aoe-XXXXXXXX (no "p" in the path), unmounted with everything
    mounted inside it, and removed, on close."""

    def __init__(self) -> None:
        base = next(b for b in _SCRATCH_BASES if os.path.isdir(b) and "p" not in b)
        self.path = Path(base) / f"aoe-{secrets.token_hex(4)}"
        if "p" in str(self.path):
            raise RuntimeError(f"scratch path {self.path} contains a p")
        self.path.mkdir()
        self._recorders: list[Recorder] = []
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "aoe-scratch", self.path], check=True)
        except BaseException:
            self.path.rmdir()
            raise

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def recorder(self, path: Path) -> Recorder:
        """Make ``path`` a character device recording its writes (see Recorder)."""
        rec = Recorder()
        self._recorders.append(rec)
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        path.touch()
        subprocess.run(["mount", "--bind", rec.slave_path, path], check=True)
        return rec

    def device(self, path: Path, name: str) -> None:
        """Make ``path`` one of the memory character devices: null, zero, full, urandom."""
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, _MEM_NODES[name]))
        os.chmod(path, 0o666)

    def close(self) -> None:
        # A lazy unmount detaches the bind mounts inside too.
        subprocess.run(["umount", "-l", self.path], check=False)
        for rec in self._recorders:
            rec.close()
        self._recorders.clear()
        with contextlib.suppress(OSError):
            self.path.rmdir()


class World:
    """Run commands that see WORLD/sys as /sys and WORLD/dev as /dev, a fresh /run (so no
    /run/udev) and a fresh /proc in a PID namespace of their own (so no udevd). The mounts
    are private to the command; the host sees none of them."""

    def __init__(self, scratch: Scratch, name: str = "world") -> None:
        self.scratch = scratch
        self.dir = scratch.path / name
        self.sys = self.dir / "sys"
        self.dev = self.dir / "dev"
        self.etherd = self.dev / "etherd"
        self.sys.mkdir(parents=True)
        (self.sys / "block").mkdir()
        self.etherd.mkdir(parents=True)
        for node in _MEM_NODES:
            scratch.device(self.dev / node, node)

    def command(self, argv: Sequence[str], setup: str = "") -> list[str]:
        """``argv`` wrapped to run in the world; ``setup`` is shell run there first (e.g.
        `mkdir /run/udev`)."""
        script = (
            'mount --rbind "$0/sys" /sys && mount --rbind "$0/dev" /dev && '
            "mount -t tmpfs aoe-run /run && "
            f'{setup or ":"} && exec "$@"'
        )
        return [
            "unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
            "--", "sh", "-c", script, str(self.dir), *argv,
        ]  # fmt: skip

    def run(
        self, argv: Sequence[str], setup: str = "", env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            self.command(argv, setup),
            capture_output=True,
            env=None if env is None else dict(env),
            timeout=timeout,
        )
