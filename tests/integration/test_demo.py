"""`pyaoe demo`, the README's first command, runs to the end and shows each step working."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The demo may take its own 300 s limit; the test's is above it.
pytestmark = [pytest.mark.netns, pytest.mark.interop, pytest.mark.timeout(600)]


def test_demo_runs_every_step_and_cleans_up() -> None:
    before = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    result = subprocess.run(
        [sys.executable, "-m", "pyaoe", "demo"], capture_output=True, text=True, timeout=300
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "pyaoe demo: all steps passed" in out
    # Debian's aoe-stat and pyaoe's print the same rows for the same tree.
    stat_blocks = out.split("$ ")
    ours = next(b for b in stat_blocks if b.startswith(sys.executable) and "aoe_stat" in b.splitlines()[0])
    debian = next(b for b in stat_blocks if "/usr/sbin/aoe-stat" in b.splitlines()[0])
    assert ours.splitlines()[1:] == debian.splitlines()[1:]
    assert len(ours.splitlines()[1:]) == 4
    assert "*badcfg*" in out
    assert "Input/output error" in out
    after = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = [{line.split()[0] for line in text.splitlines()} for text in (before, after)]
    ours_left = names[1] - names[0]
    assert not {n for n in ours_left if n.startswith("aoest") or n.startswith("aoeho")}
