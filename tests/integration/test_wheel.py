"""The wheel is the product: built from this tree and installed with pip into a fresh venv (no
extras, no repository on the path), it holds the library, the daemons, the commands and what
`pyaoe demo`, `bench` and `soak` need, and none of the test rigs (QEMU guest, fake trees)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Test rigs: they live in tests/support, never in the wheel.
RIGS = ("qemu", "initramfs", "faketree", "guest/")
#: What pyproject.toml's [project] dependencies name (a user's pip fetches them too).
DEPENDENCIES = ("prometheus-client", "tqdm")
#: What a working tree holds beside the sources: never part of a build.
UNBUILT = ("build", ".venv", "*.egg-info", ".git", ".*_cache", ".hypothesis", "__pycache__")
#: Console scripts pyproject.toml declares.
COMMANDS = ("pyaoe", "vblade", "vbladed", "aoeping", "aoecfg", "aoe-stat", "aoe-discover", "aoe-flush")


def run(*argv: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload,no-any-return]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # From a copy without build/: setuptools reuses build/lib, which in a working tree can hold
    # modules since removed from src/ (a clean checkout has none).
    source = tmp_path_factory.mktemp("source") / "pyaoe"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*UNBUILT))
    # No build isolation: the venv's setuptools (the test extra), nothing fetched.
    done = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, source
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("pyaoe-*.whl")
    # The plain dependencies, beside it, for an install that fetches nothing else.
    done = run(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", out, *DEPENDENCIES)
    assert done.returncode == 0, done.stderr
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv with only the wheel in it (its bin directory)."""
    venv = tmp_path_factory.mktemp("venv")
    assert run(sys.executable, "-m", "venv", "--without-pip", venv).returncode == 0
    python = venv / "bin" / "python"
    done = run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-index",
        "--find-links",
        wheel.parent,
        wheel,
    )
    assert done.returncode == 0, done.stderr
    yield venv / "bin"


def test_the_wheel_holds_the_product_and_no_test_rigs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for product in (
        "pyaoe/py.typed",
        "pyaoe/testing.py",
        "pyaoe/demo.py",
        "pyaoe/cli/main.py",
        "pyaoe/cli/vblade.py",
        "pyaoe/service/initiator/faces.py",
        "pyaoe/fuse/filesystem.py",
        "pyaoe/lab/netns.py",
        "pyaoe/bench/runner.py",
        "pyaoe/bench/c/aoeload.c",
        "pyaoe/bench/c/aoenull.c",
        "pyaoe/bench/c/aoeblast.c",
        "pyaoe/reliability/runner.py",
    ):
        assert product in names, product
    assert [n for n in names if any(rig in n for rig in RIGS)] == []
    assert [n for n in names if not n.startswith(("pyaoe/", "pyaoe-"))] == []


def test_every_module_imports_from_the_install_alone(installed: Path) -> None:
    """Nothing in the package reaches for tests/ or the source tree; the FUSE modules need the
    fuse extra, which this venv does not have."""
    code = (
        "import pkgutil, pyaoe, sys\n"
        "assert 'site-packages' in pyaoe.__file__, pyaoe.__file__\n"
        "names = [m.name for m in pkgutil.walk_packages(pyaoe.__path__, 'pyaoe.')]\n"
        "for name in names:\n"
        "    if not name.startswith('pyaoe.fuse') and not name.endswith('__main__'):\n"
        "        __import__(name)\n"
        "from pyaoe.bench.tools import TOOL_NAMES, _source\n"
        "assert all(_source(t).startswith(b'/*') for t in TOOL_NAMES)\n"
        "print(len(names))\n"
    )
    done = run(installed / "python", "-I", "-c", code, cwd="/")
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 90


def test_the_commands_are_installed_and_answer(installed: Path) -> None:
    for command in COMMANDS:
        assert (installed / command).exists(), command
    for sub in ("demo", "bench", "soak", "target", "initiator"):
        done = run(installed / "pyaoe", sub, "--help", cwd="/")
        assert done.returncode == 0 and done.stdout.startswith(f"usage: pyaoe {sub}"), done.stderr
    # Without the fuse extra, the initiator says what to install (tests/cli has the full line).
    done = run(installed / "pyaoe", "initiator", "--root", "/nonexistent/aoe", cwd="/")
    assert done.returncode == 1 and "pip install 'pyaoe[fuse]'" in done.stderr
    assert "Traceback" not in done.stderr
