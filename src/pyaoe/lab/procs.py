"""pyaoe.lab.procs: small helpers for the processes a lab starts (targets, initiators, tools).

read_lines() waits for a process's first lines (a startup line, say) without hanging on it.
"""

from __future__ import annotations

import os
import select
import subprocess
import time

__all__ = ["read_lines"]


def read_lines(proc: subprocess.Popen[bytes], count: int, deadline: float) -> list[str]:
    """``count`` lines from the process's stdout, or fewer if it closes stdout or the
    time.monotonic() ``deadline`` passes first."""
    if proc.stdout is None:
        raise ValueError("the process's stdout is not a pipe")
    fd = proc.stdout.fileno()
    buf = b""
    while buf.count(b"\n") < count and time.monotonic() < deadline:
        ready, _w, _x = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace").splitlines()
