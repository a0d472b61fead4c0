"""What every daemon user expects, as a user types it: --version on every command and subcommand,
--pidfile on vbladed and pyaoe target, SIGHUP that never kills, and pyaoe install-units."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyaoe import __version__
from pyaoe.cli.main import COMMANDS
from pyaoe.cli.manpages import scripts_of
from pyaoe.lab.netns import Lab, Link
from support.target import PYAOE_TARGET, VBLADE, VBLADED, start_target

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRIPTS = scripts_of(ROOT / "pyproject.toml")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_installed_command_has_version(script: str) -> None:
    result = run(str(BIN / script), "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{script} (pyaoe) {__version__}\n"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_pyaoe_subcommand_has_version(command: str) -> None:
    result = run(str(BIN / "pyaoe"), command, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"pyaoe {command} (pyaoe) {__version__}\n"


def test_pyaoe_itself_has_version() -> None:
    assert run(str(BIN / "pyaoe"), "--version").stdout == f"pyaoe (pyaoe) {__version__}\n"


@pytest.fixture
def link() -> Iterator[tuple[Lab, Link, Link]]:
    with Lab() as lab:
        ns = lab.netns("dmn")
        here, there = lab.veth(None, ns)
        yield lab, here, there


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(1 << 20))
    return path


@pytest.mark.netns
@pytest.mark.parametrize("command", [PYAOE_TARGET, VBLADED], ids=["pyaoe-target", "vbladed"])
def test_pidfile_holds_the_serving_pid_and_goes_at_exit(link, disk, tmp_path, command):
    lab, here, there = link
    pidfile = tmp_path / "target.pid"
    args = ["--pidfile", str(pidfile), "3", "4", there.ifname, str(disk)]
    with start_target(lab, there, args, listen=here, command=command) as target:
        assert pidfile.read_text() == f"{target.pid}\n"
        target.stop()
        deadline = time.monotonic() + 10
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not pidfile.exists()


def test_a_pidfile_that_cannot_be_written_is_one_line(disk, tmp_path):
    with Lab() as lab:
        ns = lab.netns("dmn")
        _here, there = lab.veth(None, ns)
        result = lab.run(
            ns,
            [
                *PYAOE_TARGET,
                "--pidfile",
                str(tmp_path / "no" / "such" / "x.pid"),
                "1",
                "2",
                there.ifname,
                str(disk),
            ],
        )
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert (
        lines[0].startswith("pyaoe target: cannot write pidfile") and "No such file or directory" in lines[0]
    )


@pytest.mark.netns
@pytest.mark.parametrize("command", [VBLADE, PYAOE_TARGET], ids=["vblade", "pyaoe-target"])
def test_sighup_without_a_file_never_kills(link, disk, command):
    lab, here, there = link
    with start_target(
        lab, there, ["3", "5", there.ifname, str(disk)], listen=here, command=command
    ) as target:
        os.kill(target.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "nothing to reload" not in target.stderr() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "SIGHUP: nothing to reload" in target.stderr()
        assert target.alive()
        assert target.stop() == 0


def test_install_units_writes_absolute_paths(tmp_path):
    units, generators = tmp_path / "units", tmp_path / "gen"
    result = run(
        str(BIN / "pyaoe"), "install-units", "--unit-dir", str(units), "--generator-dir", str(generators)
    )
    assert result.returncode == 0, result.stderr
    target = (units / "pyaoe-target.service").read_text()
    assert f"ExecStart={BIN}/pyaoe target --config /etc/pyaoe/target.toml" in target
    assert f"ExecReload={BIN}/pyaoe ctl --socket /run/pyaoe/target.sock reload" in target
    vblade = (units / "pyaoe-vblade@.service").read_text()
    assert f"ExecStart=/usr/bin/ionice $ionice {BIN}/vblade $shelf $slot $netif $filename $options" in vblade
    generator = generators / "pyaoe-vblade-generator"
    assert os.access(generator, os.X_OK)
    assert f'"{units}/pyaoe-vblade@.service"' in generator.read_text()


def test_install_units_mistakes_are_one_line(tmp_path):
    result = run(str(BIN / "pyaoe"), "install-units", "--bindir", str(tmp_path), "--unit-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == f"pyaoe install-units: no pyaoe command in {tmp_path} (give --bindir DIR)\n"
