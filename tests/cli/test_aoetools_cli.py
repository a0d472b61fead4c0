"""aoeping, aoecfg and aoe-sancheck as a user types them: every mistake is one line on stderr,
nothing on stdout, and aoetools' non-zero exit code (1); --help says what differs from aoetools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab

MODULES = {
    "aoeping": "pyaoe.cli.aoeping",
    "aoecfg": "pyaoe.cli.aoecfg",
    "aoe-sancheck": "pyaoe.cli.aoe_sancheck",
}


def run(
    tool: str, *args: str, netns: str | None = None, lab: Lab | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", MODULES[tool], *args]
    if lab is not None:
        return lab.run(netns, argv, timeout=30)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


MISTAKES = [
    ("aoeping", (), "the following arguments are required"),
    ("aoeping", ("1", "2"), "the following arguments are required"),
    ("aoeping", ("1", "2", "lo", "extra"), "unrecognized arguments"),
    ("aoeping", ("-x", "1", "2", "lo"), "unrecognized arguments: -x"),
    ("aoeping", ("-s", "0", "1", "2", "lo"), "timeout seconds must be one or more"),
    ("aoeping", ("-s", "soon", "1", "2", "lo"), "timeout seconds must be a decimal number"),
    ("aoeping", ("abc", "2", "lo"), "shelf must be a decimal number, not 'abc'"),
    ("aoeping", ("65535", "2", "lo"), "shelf 65535 is out of range (0-65534)"),
    ("aoeping", ("1", "255", "lo"), "slot 255 is out of range (0-254)"),
    ("aoeping", ("1", "-1", "lo"), "slot -1 is out of range"),
    ("aoeping", ("-S", "selftest", "1", "2", "lo"), "no such SMART command: selftest"),
    ("aoeping", ("-S", "read_log:lots", "1", "2", "lo"), "SMART argument must be a number"),
    ("aoeping", ("-t", "x", "1", "2", "lo"), "tag must be a decimal number"),
    ("aoeping", ("1", "2", "nosuch0"), "no such interface: nosuch0"),
    ("aoecfg", ("-c", "bogus", "lo"), "invalid choice: 'bogus'"),
    ("aoecfg", ("-v", "lo"), "unrecognized arguments: -v"),
    ("aoecfg", ("1", "2", "lo", "extra"), "too many arguments"),
    ("aoecfg", ("1x",), '"1x" is not a valid network interface'),
    ("aoecfg", ("0x10000", "1", "lo"), "shelf 65536 is out of range (0-65535)"),
    ("aoecfg", ("1", "256", "lo"), "slot 256 is out of range (0-255)"),
    ("aoecfg", ("one", "2", "lo"), "shelf must be a number, not 'one'"),
    ("aoecfg", ("-t", "-1", "lo"), "timeout -1 is out of range"),
    ("aoecfg", ("-t", "later", "lo"), "timeout must be a decimal number"),
    ("aoecfg", ("-s", "x" * 1025, "lo"), "config string of 1025 bytes is longer than 1024"),
    ("aoecfg", ("1", "2", "nosuch0"), "no such interface: nosuch0"),
    ("aoecfg", ("nosuch0", "-t", "1"), "no such interface: nosuch0"),
    ("aoe-sancheck", ("-t", "0"), "wait 0 is out of range"),
]


@pytest.mark.parametrize(
    ("tool", "args", "message"), MISTAKES, ids=[f"{t} {' '.join(a)}"[:60] for t, a, _m in MISTAKES]
)
def test_mistake_is_one_stderr_line(tool, args, message):
    proc = run(tool, *args)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{tool}: ") and message in lines[0]


@pytest.mark.netns
def test_aoecfg_defaults_to_eth0():
    # In a fresh namespace there is no eth0: the default interface is named in the error.
    with Lab() as lab:
        ns = lab.netns("clins")
        proc = run("aoecfg", "-t", "1", netns=ns, lab=lab)
        assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", "aoecfg: no such interface: eth0\n")


@pytest.mark.parametrize("tool", ["aoeping", "aoecfg"])
def test_help_says_short_replies_are_accepted(tool):
    proc = run(tool, "-h")
    assert proc.returncode == 0 and proc.stderr == ""
    assert "shorter than 60 bytes" in " ".join(proc.stdout.split())


def test_console_scripts_are_installed():
    bindir = Path(sys.executable).parent
    for tool in MODULES:
        proc = subprocess.run([str(bindir / tool), "-h"], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0 and proc.stdout.startswith(f"usage: {tool}")
