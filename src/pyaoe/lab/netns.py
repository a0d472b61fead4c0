"""pyaoe.lab.netns: network namespaces, veth pairs and bridges that clean up after themselves.

Lab() records what it makes and removes it on close, even when the body raised.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Lab", "Link", "unique_name", "netns_fd", "in_netns", "ip"]

_CLONE_NEWNET = 0x40000000
_counter = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


def unique_name(prefix: str) -> str:
    """A name unique to this process and call, short enough for an interface (15 chars)."""
    return f"{prefix[:5]}{os.getpid() % 100000:05d}{next(_counter) % 100000:x}"[:15]


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS` (in namespace ``netns`` when given)."""
    cmd = ["ip", *(("-n", netns) if netns else ()), *args]
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def netns_fd(name: str) -> int:
    """An open descriptor of the named network namespace (/run/netns/NAME)."""
    return os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Run the body's socket calls in network namespace ``name`` (None: stay where we are).

    setns() switches the calling thread only; sockets keep the namespace they were made in,
    so a process can hold sockets in several namespaces at once.
    """
    if name is None:
        yield
        return
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = netns_fd(name)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(home, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns back home: {os.strerror(err)}")
    finally:
        os.close(target)
        os.close(home)


@dataclass
class Link:
    """One end of a link: its interface name and the namespace it lives in (None: root)."""

    ifname: str
    netns: str | None

    @property
    def mac(self) -> bytes:
        out = ip("-o", "link", "show", "dev", self.ifname, netns=self.netns).stdout
        word = out.split("link/ether", 1)[1].split()[0]
        return bytes.fromhex(word.replace(":", ""))

    def set_mtu(self, mtu: int) -> None:
        ip("link", "set", "dev", self.ifname, "mtu", str(mtu), netns=self.netns)

    def set_up(self, up: bool = True) -> None:
        ip("link", "set", "dev", self.ifname, "up" if up else "down", netns=self.netns)


@dataclass
class Lab:
    """A set of namespaces and links, removed by close() (or the with-block's end)."""

    namespaces: list[str] = field(default_factory=list)
    root_links: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def netns(self, prefix: str = "aoens") -> str:
        """Make a network namespace with its loopback up; return its name."""
        name = unique_name(prefix)
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        self.namespaces.append(name)
        ip("link", "set", "lo", "up", netns=name)
        return name

    def veth(
        self,
        netns_a: str | None,
        netns_b: str | None,
        mtu: int = 1500,
        names: tuple[str, str] | None = None,
    ) -> tuple[Link, Link]:
        """A veth pair with one end in each namespace (None: the root namespace), both up."""
        a, b = names or (unique_name("va"), unique_name("vb"))
        ip("link", "add", a, "mtu", str(mtu), "type", "veth", "peer", "name", b, "mtu", str(mtu))
        # Until it is moved, the pair lives in the root namespace: record it for clean-up.
        self.root_links.append(a)
        for end, ns in ((a, netns_a), (b, netns_b)):
            if ns:
                ip("link", "set", end, "netns", ns)
        for end, ns in ((a, netns_a), (b, netns_b)):
            ip("link", "set", end, "up", netns=ns)
        return Link(a, netns_a), Link(b, netns_b)

    def bridge(self, netns: str | None, mtu: int = 1500) -> Link:
        """A bridge, up, in ``netns``; attach links with attach()."""
        name = unique_name("br")
        ip("link", "add", name, "mtu", str(mtu), "type", "bridge", netns=netns)
        if netns is None:
            self.root_links.append(name)
        ip("link", "set", name, "up", netns=netns)
        return Link(name, netns)

    def attach(self, link: Link, bridge: Link) -> None:
        if link.netns != bridge.netns:
            raise ValueError("a link and its bridge must share a namespace")
        ip("link", "set", link.ifname, "master", bridge.ifname, netns=link.netns)

    def tap(self, netns: str | None, mtu: int = 1500) -> Link:
        """A persistent tap device (for QEMU), up, in ``netns``."""
        name = unique_name("tap")
        ip("tuntap", "add", "dev", name, "mode", "tap", netns=netns)
        if netns is None:
            self.root_links.append(name)
        ip("link", "set", name, "mtu", str(mtu), "up", netns=netns)
        return Link(name, netns)

    def command(self, netns: str | None, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped to run in ``netns`` (network namespace only: mounts stay shared)."""
        if netns is None:
            return list(argv)
        return ["nsenter", f"--net=/run/netns/{netns}", "--", *argv]

    def run(self, netns: str | None, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.command(netns, argv), **kw)

    def popen(self, netns: str | None, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` in ``netns``; it is killed on close() if still running."""
        proc = subprocess.Popen(self.command(netns, argv), **kw)
        self.processes.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)
        self.processes.clear()
        for name in reversed(self.root_links):
            ip("link", "del", name, check=False)
        self.root_links.clear()
        for ns in reversed(self.namespaces):
            # Kill anything still running inside before the namespace goes.
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces.clear()
