"""pyaoe.reliability.peers: the processes and wire a reliability run needs: pyaoe's target in a
namespace (killable, restartable, optionally on a tiny tmpfs), initiators started inside
namespaces, nftables rules that lose and duplicate AoE frames, and memory readings.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyaoe.initiator import InitiatorConfig
from pyaoe.lab.netns import Lab, in_netns
from pyaoe.lab.procs import read_lines
from pyaoe.service.initiator import InitiatorService

__all__ = [
    "TargetProcess",
    "start_target",
    "start_initiator",
    "lossy_wire",
    "rss_kib",
    "write_config",
    "TARGET_COMMAND",
    "VBLADE_COMMAND",
]

#: pyaoe's target with vblade's command line, and the many-export `pyaoe target`.
VBLADE_COMMAND = (sys.executable, "-m", "pyaoe.cli.vblade")
#: No control socket: a soak's targets must not take the one a real installation uses.
TARGET_COMMAND = (sys.executable, "-m", "pyaoe", "target", "--control-socket", "none")
_STARTUP = re.compile(r"^pid (\d+): e(\d+)\.(\d+), (\d+) sectors (O_RDWR|O_RDONLY)$")

#: Drop on the way in, duplicate on the way out (netem is not in every kernel): the mark keeps
#: a copy from being copied again.
_LOSSY_RULES = """
table netdev pyaoe_faults {{
    chain lose {{
        type filter hook ingress device "{ifname}" priority 0;
        ether type 0x88a2 numgen random mod 100 < {drop} counter drop
    }}
    chain duplicate {{
        type filter hook egress device "{ifname}" priority 0;
        ether type 0x88a2 meta mark != 0x42 numgen random mod 100 < {dup} counter \
            meta mark set 0x42 dup to "{ifname}"
    }}
}}
"""


@dataclass
class TargetProcess:
    """A pyaoe target serving in a namespace; restart() runs the same command again."""

    lab: Lab
    netns: str
    argv: list[str]
    exports: int
    stderr_path: Path
    proc: subprocess.Popen[bytes] | None = None
    pid: int = 0
    lines: list[str] = field(default_factory=list)
    starts: int = 0

    def start(self, timeout: float = 60.0) -> None:
        """Run the command and wait for every export's startup line."""
        with open(self.stderr_path, "ab") as err:
            self.proc = self.lab.popen(
                self.netns,
                self.argv,
                stdout=subprocess.PIPE,
                stderr=err,
                env={**os.environ, "PYTHONFAULTHANDLER": "1"},
            )
        self.lines = read_lines(self.proc, self.exports, time.monotonic() + timeout)
        found = [m for m in map(_STARTUP.match, self.lines) if m]
        if len(found) < self.exports:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(
                f"{' '.join(self.argv)} printed {len(found)} of {self.exports} startup lines "
                f"(exit {self.proc.returncode}): {self.stderr()[-2000:]}"
            )
        self.pid = int(found[0][1])
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye; whatever it acknowledged must already be in the file."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        return self.proc.returncode

    def restart(self) -> None:
        self.kill()
        self.start()

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def rss_kib(self) -> int:
        return rss_kib(self.pid) if self.alive() else 0

    def path_in_its_mounts(self, path: Path | str) -> Path:
        """``path`` as this process sees it (through /proc/PID/root: a private tmpfs shows)."""
        return Path(f"/proc/{self.pid}/root") / Path(path).relative_to("/")


@contextlib.contextmanager
def start_target(
    lab: Lab,
    netns: str,
    args: Sequence[str],
    *,
    command: Sequence[str] = VBLADE_COMMAND,
    exports: int = 1,
    wrapper: Sequence[str] = (),
    workdir: Path,
) -> Iterator[TargetProcess]:
    """Serve with pyaoe's target in ``netns`` (``wrapper`` goes in front, e.g. an unshare
    that mounts a tmpfs); stopped at the end of the block, its stderr kept in ``workdir``."""
    fd, name = tempfile.mkstemp(prefix="target-", suffix=".err", dir=workdir)
    os.close(fd)
    target = TargetProcess(lab, netns, [*wrapper, *command, *args], exports, Path(name))
    target.start()
    try:
        yield target
    finally:
        target.stop()


def start_initiator(netns: str | None, iflist: Sequence[str], **options: Any) -> InitiatorService:
    """An InitiatorService whose sockets and thread live in ``netns``."""
    service = InitiatorService(InitiatorConfig(iflist=tuple(iflist), **options))
    with in_netns(netns):
        service.start()
    return service


def lossy_wire(lab: Lab, netns: str, ifname: str, drop: int, dup: int) -> None:
    """Drop ``drop`` % of the AoE frames arriving on ``ifname`` and send ``dup`` % of those
    leaving it twice (the table lives in the namespace and goes with it)."""
    rules = _LOSSY_RULES.format(ifname=ifname, drop=drop, dup=dup)
    done = lab.run(netns, ["nft", "-f", "-"], input=rules)
    if done.returncode != 0:
        raise RuntimeError(f"nft in {netns}: {done.stderr.strip()}")


def nft_counters(lab: Lab, netns: str) -> tuple[int, int]:
    """Packets the lossy rules dropped and duplicated in ``netns``."""
    out = lab.run(netns, ["nft", "list", "table", "netdev", "pyaoe_faults"]).stdout
    counts = [int(m) for m in re.findall(r"counter packets (\d+)", out)]
    return (counts[0], counts[1]) if len(counts) >= 2 else (0, 0)


def rss_kib(pid: int) -> int:
    """Resident anonymous memory of ``pid`` (KiB): without the mapped file pages a target that
    maps its backing files touches, which come and go with the page cache."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def write_config(path: Path, exports: Sequence[tuple[int, int, str, Path]]) -> None:
    """A `pyaoe target --config` file: one [[export]] table per (shelf, slot, netif, file)."""
    path.write_text(
        "".join(
            f'[[export]]\nshelf = {shelf}\nslot = {slot}\nnetif = "{netif}"\nfile = "{file}"\n'
            for shelf, slot, netif, file in exports
        )
    )
