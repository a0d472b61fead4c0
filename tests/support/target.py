"""Start pyaoe's target (the vblade, vbladed or `pyaoe target` command) in a network namespace and
wait until it really serves: its startup line, then its announcement on the wire (no sleeping).

    with Lab() as lab:
        ns = lab.netns("tgt")
        here, there = lab.veth(None, ns)
        with start_target(lab, there, ["1", "2", there.ifname, str(disk)], listen=here) as target:
            ... target.name == "e1.2", target.announcements[0] is the config frame it sent ...
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pyaoe.lab.netns import Lab, Link, in_netns
from pyaoe.lab.procs import read_lines
from pyaoe.net.packet_socket import PacketSocket
from support.packets import recv_frame

__all__ = ["STARTUP_LINE", "VBLADE", "VBLADED", "PYAOE_TARGET", "RunningTarget", "start_target", "Listener"]

#: vblade 25's startup line: `pid N: eX.Y, S sectors O_RDWR` (or O_RDONLY).
STARTUP_LINE = re.compile(
    r"^pid (?P<pid>\d+): e(?P<shelf>\d+)\.(?P<slot>\d+), (?P<sectors>\d+) sectors (?P<mode>O_RDWR|O_RDONLY)$"
)
VBLADE = (sys.executable, "-m", "pyaoe.cli.vblade")
VBLADED = (str(Path(sys.executable).with_name("vbladed")),)
#: Tests never use the control socket a real installation would (/run/pyaoe/target.sock).
PYAOE_TARGET = (sys.executable, "-m", "pyaoe", "target", "--control-socket", "none")

_QUERY_CONFIG = 1
_RESPONSE = 0x08


class Listener:
    """A packet socket on a link's end that records every AoE frame it hears (any destination:
    on veth a packet socket also gets frames addressed to other MACs)."""

    def __init__(self, link: Link) -> None:
        with in_netns(link.netns):
            self.sock = PacketSocket(link.ifname)
        self.link = link
        self.frames: list[bytes] = []

    def collect(self, timeout: float = 0.0) -> list[bytes]:
        """Frames received since the last call, waiting up to ``timeout`` for the first."""
        new: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            frame = recv_frame(self.sock, timeout=max(0.0, deadline - time.monotonic()) if not new else 0.0)
            if frame is None:
                break
            new.append(frame)
        self.frames += new
        return new

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bytes:
        """The first frame (already heard or arriving within ``timeout``) for which ``predicate`` holds."""
        for frame in self.frames:
            if predicate(frame):
                return frame
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in self.collect(timeout=deadline - time.monotonic()):
                if predicate(frame):
                    return frame
        raise TimeoutError(f"no matching frame within {timeout} s on {self.link.ifname}")

    def close(self) -> None:
        self.sock.close()


def is_announcement(frame: bytes, shelf: int, slot: int) -> bool:
    """A Query Config response for shelf.slot with tag 0 (what a target sends unasked at start)."""
    return (
        len(frame) >= 24
        and frame[12:14] == b"\x88\xa2"
        and frame[14] & _RESPONSE != 0
        and int.from_bytes(frame[16:18], "big") == shelf
        and frame[18] == slot
        and frame[19] == _QUERY_CONFIG
        and frame[20:24] == bytes(4)
    )


@dataclass
class RunningTarget:
    """A started target process and what it said."""

    proc: subprocess.Popen[bytes]
    #: Everything the process printed on stdout up to and including the startup lines.
    lines: list[str]
    #: pid, shelf, slot, sectors and mode from the (first) startup line.
    pid: int
    shelf: int
    slot: int
    sectors: int
    mode: str
    #: Where the process's stderr goes (read it with stderr()).
    stderr_path: Path
    #: The announcement frames heard on the listening link (empty without one).
    announcements: list[bytes] = field(default_factory=list)
    listener: Listener | None = None

    @property
    def name(self) -> str:
        return f"e{self.shelf}.{self.slot}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return self.proc.poll() is None or self.proc.pid != self.pid

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the serving process and wait for it; its exit code when it is our child."""
        if self.proc.pid == self.pid:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                # Stuck: SIGABRT makes faulthandler (PYTHONFAULTHANDLER) print where, in stderr().
                self.proc.send_signal(signal.SIGABRT)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                self.proc.wait(timeout)
                raise AssertionError(
                    f"{self.name} ignored SIGTERM for {timeout} s:\n{self.stderr()}"
                ) from None
        # A daemon (vbladed): not our child; wait for the pid to go away.
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return None
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        return None

    def __enter__(self) -> RunningTarget:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the target, close the listener and remove the stderr file."""
        try:
            self.stop()
        finally:
            if self.listener is not None:
                self.listener.close()
            self.stderr_path.unlink(missing_ok=True)


def start_target(
    lab: Lab,
    link: Link,
    args: Sequence[str],
    *,
    listen: Link | None = None,
    command: Sequence[str] = VBLADE,
    exports: int = 1,
    timeout: float = 15.0,
) -> RunningTarget:
    """Run ``command args`` in ``link``'s namespace and wait until it serves.

    Waits for ``exports`` startup lines, then, when ``listen`` (the link's peer end) is given,
    for each export's announcement on it: proof that the target's socket is bound and sending.
    A process that exits or stays silent fails with its stderr in the message.
    """
    listener = Listener(listen) if listen is not None else None
    stderr_file = tempfile.NamedTemporaryFile(prefix="pyaoe-target-", suffix=".err", delete=False)  # noqa: SIM115
    stderr_path = Path(stderr_file.name)
    try:
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        proc = lab.popen(link.netns, [*command, *args], stdout=subprocess.PIPE, stderr=stderr_file, env=env)
    finally:
        stderr_file.close()
    deadline = time.monotonic() + timeout
    lines = read_lines(proc, exports, deadline)
    matches = [m for m in (STARTUP_LINE.match(line) for line in lines) if m]
    if len(matches) < exports:
        proc.kill()
        proc.wait()
        if listener is not None:
            listener.close()
        stderr = stderr_path.read_text(errors="replace")
        stderr_path.unlink()
        raise AssertionError(
            f"{' '.join([*command, *args])} printed {lines!r} (exit {proc.returncode}), stderr:\n{stderr}"
        )
    first = matches[0]
    target = RunningTarget(
        proc=proc,
        lines=lines,
        pid=int(first["pid"]),
        shelf=int(first["shelf"]),
        slot=int(first["slot"]),
        sectors=int(first["sectors"]),
        mode=first["mode"],
        stderr_path=stderr_path,
        listener=listener,
    )
    if listener is not None:
        try:
            for m in matches:
                shelf, slot = int(m["shelf"]), int(m["slot"])
                target.announcements.append(
                    listener.wait_for(
                        lambda f, s=shelf, t=slot: is_announcement(f, s, t), deadline - time.monotonic()
                    )
                )
        except TimeoutError:
            stderr = target.stderr()
            target.close()
            raise AssertionError(
                f"{target.name} printed its startup line but never announced itself:\n{stderr}"
            ) from None
    return target
