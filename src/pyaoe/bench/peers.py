"""pyaoe.bench.peers: the targets under measurement (pyaoe's, Debian's vblade, the no-op
responder), started pinned to a CPU in the target namespace, probed until they answer, stopped.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from pyaoe.bench.procstat import cpu_seconds, rss_anon_kib, vmhwm_kib
from pyaoe.bench.tools import BenchTools
from pyaoe.lab.netns import Lab, in_netns

__all__ = [
    "METRICS_KIND",
    "VBLADE",
    "TARGETS",
    "PeerError",
    "RunningTarget",
    "scraping",
    "target_argv",
    "start_target",
]

log = logging.getLogger(__name__)

#: Debian's vblade, by full path: never whatever `vblade` is first on PATH (pyaoe installs one).
VBLADE = "/usr/sbin/vblade"
#: The targets compared, and the no-op responder that shows the generator's ceiling.
TARGETS = ("pyaoe", "vblade", "null")
#: pyaoe's target with Prometheus metrics on (bench --metrics), on this port of its namespace.
METRICS_KIND = "pyaoe-metrics"
METRICS_PORT = 9598
#: How often the bench scrapes it while it serves: more often than Prometheus' default 15 s.
SCRAPE_INTERVAL = 1.0


class PeerError(RuntimeError):
    """A target did not start, did not answer, or died."""


def target_argv(
    kind: str,
    *,
    tools: BenchTools,
    ifname: str,
    shelf: int,
    slot: int,
    path: str,
    file_bytes: int,
    direct: bool,
    bufcnt: int,
) -> list[str]:
    """The command line of target ``kind`` (same options for pyaoe and vblade)."""
    common = [*(["-d"] if direct else []), "-b", str(bufcnt), str(shelf), str(slot), ifname, path]
    if kind == "pyaoe":
        return [sys.executable, "-m", "pyaoe.cli.vblade", *common]
    if kind == METRICS_KIND:
        address = f"127.0.0.1:{METRICS_PORT}"
        return [
            sys.executable,
            "-m",
            "pyaoe",
            "target",
            "--control-socket",
            "none",
            "--metrics",
            address,
            *common,
        ]
    if kind == "vblade":
        return [VBLADE, *common]
    if kind == "null":
        return [str(tools.aoenull), ifname, str(shelf), str(slot), str(file_bytes // 512), str(bufcnt)]
    raise ValueError(f"unknown target kind {kind!r}")


@dataclass
class RunningTarget:
    kind: str
    proc: subprocess.Popen[Any]
    log_file: IO[str]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def vmhwm_kib(self) -> int:
        return vmhwm_kib(self.pid)

    def rss_anon_kib(self) -> int:
        return rss_anon_kib(self.pid)

    def output(self) -> str:
        """What the target printed so far (its last lines), for error messages."""
        self.log_file.flush()
        self.log_file.seek(0)
        lines = self.log_file.read().strip().splitlines()
        return " | ".join(lines[-5:])

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log_file.close()


def start_target(
    lab: Lab,
    netns: str,
    argv: list[str],
    kind: str,
    cpu: int,
    probe: Any,
    deadline: float = 20.0,
) -> RunningTarget:
    """Start ``argv`` in ``netns`` pinned to ``cpu``, then call ``probe()`` (True when the target
    answered) until it does; PeerError if it dies or stays silent past ``deadline`` seconds."""
    log_file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - RunningTarget.stop() closes it
    # nsenter (network namespace only) and taskset both exec: the pid is the target's own.
    proc = lab.popen(
        netns, ["taskset", "-c", str(cpu), *argv], stdout=log_file, stderr=subprocess.STDOUT, text=True
    )
    target = RunningTarget(kind, proc, log_file)
    end = time.monotonic() + deadline
    try:
        while True:
            if not target.alive():
                raise PeerError(f"{kind} target exited with status {proc.returncode}: {target.output()}")
            if probe():
                break
            if time.monotonic() > end:
                raise PeerError(f"{kind} target did not answer within {deadline:.0f} s: {target.output()}")
        _check_pid_is_target(target, argv[0])
    except BaseException:
        with contextlib.suppress(Exception):
            target.stop()
        raise
    log.debug("%s target up, pid %d", kind, target.pid)
    return target


def _check_pid_is_target(target: RunningTarget, program: str) -> None:
    """The CPU figures read /proc/PID: make sure PID is the target, not a wrapper that forked."""
    with open(f"/proc/{target.pid}/comm") as f:
        comm = f.read().strip()
    if comm in ("nsenter", "taskset"):
        raise PeerError(f"pid {target.pid} is {comm}, not the {target.kind} target")


@contextlib.contextmanager
def scraping(netns: str, interval: float = SCRAPE_INTERVAL) -> Iterator[list[int]]:
    """Scrape the metrics target's /metrics every ``interval`` seconds while the with-block runs;
    yields the list of scrape sizes (bytes), one per scrape, for the caller to check."""
    sizes: list[int] = []
    done = threading.Event()

    def scrape() -> None:
        url = f"http://127.0.0.1:{METRICS_PORT}/metrics"
        while not done.wait(interval):
            try:
                with in_netns(netns), urllib.request.urlopen(url, timeout=5) as response:
                    sizes.append(len(response.read()))
            except OSError as exc:
                log.warning("metrics scrape failed: %s", exc)

    thread = threading.Thread(target=scrape, name="bench-scrape", daemon=True)
    thread.start()
    try:
        yield sizes
    finally:
        done.set()
        thread.join(timeout=10)
