"""The code base stays clean: ruff finds nothing, ruff format changes nothing, and mypy --strict
passes on the whole package (the [tool.mypy] table in pyproject.toml: files = src/pyaoe)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing() -> None:
    done = run(str(BIN / "ruff"), "check", "--output-format", "concise", "src", "tests")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_is_applied() -> None:
    done = run(str(BIN / "ruff"), "format", "--check", "src", "tests")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_on_the_whole_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True and config["files"] == ["src/pyaoe"]
    done = run(str(BIN / "mypy"))
    assert done.returncode == 0, done.stdout + done.stderr
    modules = len(list((ROOT / "src" / "pyaoe").rglob("*.py")))
    assert f"no issues found in {modules} source files" in done.stdout
