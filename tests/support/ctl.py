"""`pyaoe ctl` as a user meets it: a mistake is one `pyaoe ctl...: ` line on stderr, nothing on
stdout and a non-zero exit; AS_NOBODY runs a command as a user the control sockets refuse."""

from __future__ import annotations

import subprocess

__all__ = ["AS_NOBODY", "one_line"]

AS_NOBODY = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")


def one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    """``result`` failed with one stderr line from pyaoe ctl that holds ``expected``."""
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pyaoe ctl") and expected in lines[0], lines[0]
    assert result.stdout == ""
