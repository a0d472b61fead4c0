"""pyaoe.bench.procstat: what a process cost: CPU time (/proc/PID/stat utime+stime), peak RSS
(/proc/PID/status VmHWM), and the same for a child that has exited (wait4's rusage).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["cpu_seconds", "vmhwm_kib", "rss_anon_kib", "ExitUsage", "wait_with_usage"]

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (10 ms resolution at USER_HZ 100)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def vmhwm_kib(pid: int) -> int:
    """Peak resident set size of ``pid`` in KiB (0 when the kernel does not say)."""
    return _status_kib(pid, "VmHWM:")


def rss_anon_kib(pid: int) -> int:
    """Resident anonymous memory of ``pid`` in KiB: RSS without mapped file pages (a target that
    maps its backing file counts the page cache it touches in VmHWM)."""
    return _status_kib(pid, "RssAnon:")


@dataclass(frozen=True, slots=True)
class ExitUsage:
    returncode: int
    stdout: str
    stderr: str
    cpu_s: float
    maxrss_kib: int
    timed_out: bool
    #: Seconds from the call to the reaping (the caller starts the process just before).
    wall_s: float


def wait_with_usage(proc: subprocess.Popen[Any], timeout: float) -> ExitUsage:
    """Read ``proc``'s output to the end and reap it with wait4, which Popen.wait cannot do
    without losing the child's rusage. Killed after ``timeout`` seconds."""
    start = time.monotonic()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    errors: list[str] = []

    def read_stderr() -> None:
        # A second reader, so neither pipe can fill up while the other is being read.
        if proc.stderr:
            errors.append(proc.stderr.read())

    timer = threading.Timer(timeout, kill)
    timer.start()
    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        out = proc.stdout.read() if proc.stdout else ""
        reader.join()
        _pid, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    err = errors[0] if errors else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ExitUsage(
        returncode=proc.returncode,
        stdout=out,
        stderr=err,
        cpu_s=usage.ru_utime + usage.ru_stime,
        maxrss_kib=usage.ru_maxrss,
        timed_out=timed_out.is_set(),
        wall_s=time.monotonic() - start,
    )
