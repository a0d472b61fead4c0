"""Manual pages: one for every command (console scripts and pyaoe subcommands), made from the
parsers, shown by the real man(1); and, built and installed as a user installs pyaoe (a wheel into
a fresh venv), found by plain `man vblade`, `man pyaoe-target` and `man aoe-stat`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyaoe.cli.main import COMMANDS
from pyaoe.cli.manpages import scripts_of, write_pages

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = scripts_of(ROOT / "pyproject.toml")
ALL_PAGES = sorted([*SCRIPTS, *(f"pyaoe-{c}" for c in COMMANDS)])


def man(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MANWIDTH": "200", "MANPAGER": "cat", **(env or {})}
    if env.get("MANPATH") == "":
        del env["MANPATH"]  # man-db's own search, from PATH
    return subprocess.run(["man", *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("man")
    write_pages(SCRIPTS, out)
    return out


@pytest.mark.parametrize("name", ALL_PAGES)
def test_every_command_has_a_page_man_renders(pages: Path, name: str) -> None:
    text = man("-l", str(pages / f"{name}.8")).stdout
    assert text.splitlines()[0].startswith(f"{name.upper()}(8)")
    assert "NAME" in text and "SYNOPSIS" in text and "--version" in text


def test_pages_document_the_options(pages: Path) -> None:
    target = man("-l", str(pages / "pyaoe-target.8")).stdout
    for option in ("--config", "--control-socket", "--metrics", "--pidfile", "--syslog", "--state-dir"):
        assert option in target
    ctl = man("-l", str(pages / "pyaoe-ctl.8")).stdout
    for verb in ("list", "stats", "reload", "add", "remove", "config", "mask", "reserve"):
        assert f"\n       {verb}" in ctl or f" {verb} " in ctl, verb
    assert "--pidfile" in man("-l", str(pages / "vbladed.8")).stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_man_finds_the_pages_of_a_pip_installed_pyaoe(tmp_path: Path) -> None:
    """Built and installed as a user would (`pip install` of the wheel into a venv): plain `man`
    with the venv's bin on PATH finds the venv's pages (man-db maps PATH to ../share/man)."""
    python = sys.executable
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    wheel = next(wheels.glob("pyaoe-*.whl"))
    install = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    env = {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "MANPATH": ""}
    for name in ("vblade", "pyaoe-target", "aoe-stat", "pyaoe-ctl"):
        found = man("-w", name, env=env)
        assert found.stdout.strip() == str(venv / "share" / "man" / "man8" / f"{name}.8"), found
    shown = man("pyaoe-target", env=env)
    assert shown.returncode == 0 and "--control-socket" in shown.stdout
