"""`pyaoe bench` mistakes as a user types them: one line on stderr naming the problem, nothing on
stdout, exit status 1, and no benchmark started; --help lists the options the README shows."""

from __future__ import annotations

import subprocess
import sys

import pytest


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyaoe", "bench", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--seconds", "soon"), "--seconds must be a number, not 'soon'"),
        (("--seconds", "0"), "--seconds must be between 0.05 and 600"),
        (("--rounds", "0"), "--rounds 0 is out of range (1-100)"),
        (("--mtu", "100"), "--mtu 100 is out of range (576-9000)"),
        (("--direct-mtu", "300"), "--direct-mtu must be 0 or 576-9000"),
        (("--workloads", "seq-read,fast"), "--workloads: unknown workload 'fast'"),
        (("--cpus", "0"), "--cpus wants two CPU numbers: TARGET,GENERATOR"),
        (("--cpus", "0,99"), "--cpus 99 is out of range"),
        (("--frobnicate",), "unrecognized arguments: --frobnicate"),
    ],
)
def test_mistakes_are_one_line(args: tuple[str, ...], message: str) -> None:
    proc = bench(*args)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyaoe bench: ") and message in lines[0], proc.stderr


def test_help_lists_the_options() -> None:
    proc = bench("--help")
    assert proc.returncode == 0
    for option in ("--smoke", "--json FILE", "--seconds", "--rounds", "--mtu", "--direct-mtu", "--cpus"):
        assert option in proc.stdout


def test_the_umbrella_command_lists_bench() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pyaoe", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "bench" in proc.stdout
