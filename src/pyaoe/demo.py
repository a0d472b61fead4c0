"""pyaoe.demo: `pyaoe demo`, a small SAN in network namespaces, shown working end to end.

A storage host serves several exports from one pyaoe target (and one from Debian's vblade);
a client host uses them with Debian's aoetools and with pyaoe's initiator: aoe-stat, ext4, fsck.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pyaoe.cli.common import OneLineParser
from pyaoe.lab.netns import Lab

__all__ = ["main", "DemoFailed"]


class DemoFailed(Exception):
    """A step of the demo did not give what it should."""


_VBLADE = "/usr/sbin/vblade"
_AOECFG = "/usr/sbin/aoecfg"
_AOEPING = "/usr/sbin/aoeping"
_DEBIAN_AOE_STAT = "/usr/sbin/aoe-stat"


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _show(argv: Sequence[str], out: str) -> None:
    print("$ " + " ".join(shlex.quote(a) for a in argv), flush=True)
    if out.strip():
        print(out.rstrip("\n"), flush=True)


def _wait(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out waiting for {what}")
        time.sleep(0.05)


class _Demo:
    def __init__(self, lab: Lab, work: Path, root: Path) -> None:
        self.lab = lab
        self.work = work
        self.root = root
        self.python = sys.executable
        self.storage = lab.netns("aoestor")
        self.client = lab.netns("aoehost")
        self.server_if, self.client_if = lab.veth(self.storage, self.client)

    def run(
        self, netns: str | None, argv: Sequence[str], *, check: bool = True, env: dict[str, str] | None = None
    ) -> str:
        """Run a command in a host, print it and its output as a session would show them."""
        full_env = {**os.environ, **(env or {})}
        result = self.lab.run(netns, argv, env=full_env, timeout=120)
        shown = [f"{k}={v}" for k, v in (env or {}).items()] + list(argv)
        _show(shown, result.stdout + result.stderr)
        if check and result.returncode != 0:
            raise DemoFailed(f"{argv[0]} exited with {result.returncode}")
        return result.stdout + result.stderr

    def host(self, argv: Sequence[str], **kw: object) -> str:
        return self.run(self.client, argv, **kw)  # type: ignore[arg-type]

    def start_targets(self) -> None:
        _say("Storage host: one pyaoe target process serving three exports, and Debian's vblade a fourth")
        disks = {name: self.work / f"{name}.img" for name in ("e1.0", "e1.1", "e7.3", "e9.0")}
        for name, size in (("e1.0", 512), ("e7.3", 64), ("e9.0", 64)):
            with open(disks[name], "wb") as f:
                f.truncate(size << 20)  # sparse: no space used until written
        with open(disks["e1.1"], "wb") as f:
            f.write(b"pyaoe demo: this export is read-only\n".ljust(1 << 20, b"\0"))
        config = self.work / "target.toml"
        config.write_text(
            f'[defaults]\nnetif = "{self.server_if.ifname}"\n\n'
            f'[[export]]\nshelf = 1\nslot = 0\nfile = "{disks["e1.0"]}"\n'
            'config_string = "demo scratch disk"\n\n'
            f'[[export]]\nshelf = 1\nslot = 1\nfile = "{disks["e1.1"]}"\nreadonly = true\n\n'
            f'[[export]]\nshelf = 7\nslot = 3\nfile = "{disks["e7.3"]}"\n'
        )
        print(f"$ cat {config}\n{config.read_text().rstrip()}")
        argv = [
            self.python,
            "-m",
            "pyaoe",
            "target",
            "--config",
            str(config),
            "--state-dir",
            str(self.work / "state"),
            "--control-socket",
            str(self.work / "target.sock"),
        ]
        self.target = self._start(self.storage, argv, 3)
        if os.access(_VBLADE, os.X_OK):
            self.vblade = self._start(
                self.storage, [_VBLADE, "9", "0", self.server_if.ifname, str(disks["e9.0"])], 1
            )

    def _start(self, netns: str, argv: list[str], lines: int) -> subprocess.Popen[str]:
        print("$ " + " ".join(shlex.quote(a) for a in argv) + " &", flush=True)
        proc = self.lab.popen(netns, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for _ in range(lines):
            line = proc.stdout.readline()
            if not line:
                raise DemoFailed(f"{argv[0]} did not start")
            print(line.rstrip(), flush=True)
        return proc

    def aoetools(self) -> None:
        _say("Client host: Debian's aoetools against the pyaoe target")
        ifname = self.client_if.ifname
        out = self.host(["timeout", "10", _AOECFG, "-t", "1", "-c", "read", ifname])
        if "demo scratch disk" not in out:
            raise DemoFailed("aoecfg did not list e1.0's config string")
        self.host(["timeout", "10", _AOEPING, "-s", "3", "-I", "1", "0", ifname])
        self.host(["timeout", "10", _AOECFG, "-c", "set", "-s", "claimed by the demo", "7", "3", ifname])
        out = self.host(
            ["timeout", "10", _AOECFG, "-c", "set", "-s", "someone else", "7", "3", ifname], check=False
        )
        if "*badcfg*" not in out:
            raise DemoFailed("a second claim of e7.3's config string was not refused")

    def start_initiator(self) -> None:
        _say(f"Client host: pyaoe's initiator (no kernel module) serving the devices at {self.root}")
        argv = [self.python, "-m", "pyaoe", "initiator", "--root", str(self.root), "--deadsecs", "20"]
        argv += ["--control-socket", str(self.work / "initiator.sock")]
        print("$ " + " ".join(shlex.quote(a) for a in argv) + " &", flush=True)
        # Only the network namespace is entered, so the FUSE mount is visible here too.
        self.initiator = self.lab.popen(
            self.client, argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        names = ["e1.0", "e1.1", "e7.3"] + (["e9.0"] if hasattr(self, "vblade") else [])

        def all_up() -> bool:
            if self.initiator.poll() is not None:
                raise DemoFailed(
                    f"the initiator exited: {self.initiator.stderr.read() if self.initiator.stderr else ''}"
                )
            for name in names:
                try:
                    if (self.root / "sys" / "block" / f"etherd!{name}" / "state").read_text().strip() != "up":
                        return False
                except OSError:
                    return False
            return True

        _wait("every device to come up", all_up)
        self.run(None, [self.python, "-m", "pyaoe.cli.aoe_stat", "--root", str(self.root)])
        if os.access(_DEBIAN_AOE_STAT, os.X_OK):
            self.run(None, [_DEBIAN_AOE_STAT], env={"sysfs_dir": str(self.root / "sys")})
        self.run(None, ["ls", "-l", str(self.root / "etherd")])

    def filesystem(self) -> None:
        _say("A file system on e1.0 through the initiator: losetup, mkfs.ext4, mount, fsck")
        device = str(self.root / "etherd" / "e1.0")
        mnt = self.work / "mnt"
        mnt.mkdir()
        loop = self.run(None, ["losetup", "-f", "--show", device]).strip().splitlines()[-1]
        try:
            self.run(None, ["mkfs.ext4", "-q", "-F", loop])
            self.run(None, ["mount", loop, str(mnt)])
            payload = os.urandom(8 << 20)
            digest = hashlib.sha256(payload).hexdigest()
            (mnt / "random.bin").write_bytes(payload)
            (mnt / "hello.txt").write_text("written through pyaoe\n")
            print(f"(wrote {mnt}/random.bin, 8 MiB, sha256 {digest[:16]}..., and hello.txt)")
            self.run(None, ["umount", str(mnt)])
            self.run(None, ["e2fsck", "-fn", loop])
            self.run(None, ["mount", loop, str(mnt)])
            again = hashlib.sha256((mnt / "random.bin").read_bytes()).hexdigest()
            print(f"(after remount: sha256 {again[:16]}...: {'same' if again == digest else 'DIFFERENT'})")
            if again != digest:
                raise DemoFailed("the file read back differs from what was written")
            self.run(None, ["df", "-h", str(mnt)])
        finally:
            subprocess.run(["umount", str(mnt)], capture_output=True)
            subprocess.run(["losetup", "-d", loop], capture_output=True)

    def readonly(self) -> None:
        _say("e1.1 is exported read-only: reads work, writes are refused at once")
        device = self.root / "etherd" / "e1.1"
        self.run(None, ["head", "-c", "37", str(device)])
        print()
        started = time.monotonic()
        out = self.run(
            None,
            ["dd", "if=/dev/zero", f"of={device}", "bs=512", "count=1", "conv=notrunc,fsync"],
            check=False,
        )
        if "error" not in out.lower():
            raise DemoFailed("a write to the read-only export was not refused")
        print(f"(refused in {time.monotonic() - started:.2f} s)")

    def stop(self) -> None:
        _say("Done: stopping the initiator (it unmounts) and the targets")
        for proc in (
            getattr(self, "initiator", None),
            getattr(self, "target", None),
            getattr(self, "vblade", None),
        ):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="aoe-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def build_parser() -> OneLineParser:
    return OneLineParser(
        prog="pyaoe demo",
        description="Build a small SAN in network namespaces and show pyaoe working (root).",
    )


def main(argv: Sequence[str] | None = None) -> int:
    build_parser().parse_args(list(argv or []))
    if os.geteuid() != 0:
        print("pyaoe demo: needs root (network namespaces, packet sockets, FUSE)", file=sys.stderr)
        return 1
    # No letter "p" in the mount point: Debian's aoe-stat skips every path that has one.
    root = Path(f"/run/aoe-demo-{os.getpid()}")
    with _workdir() as work, Lab() as lab:
        demo = _Demo(lab, work, root)
        _say(
            f"Network: storage host {demo.storage} and client host {demo.client}, "
            f"linked by {demo.server_if.ifname} <-> {demo.client_if.ifname} (MTU 1500)"
        )
        try:
            demo.start_targets()
            demo.aoetools()
            demo.start_initiator()
            demo.filesystem()
            demo.readonly()
        except DemoFailed as exc:
            print(f"\npyaoe demo: FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            demo.stop()
            with contextlib.suppress(OSError):
                root.rmdir()
    print("\npyaoe demo: all steps passed")
    return 0
