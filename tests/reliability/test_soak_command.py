"""`pyaoe soak` as a user types it: a short run prints the figures table (and JSON), and
mistakes are one line on stderr with a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = [sys.executable, "-m", "pyaoe", "soak"]


def soak(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SOAK, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.netns
@pytest.mark.timeout(600)  # above the run's own 300 s limit
def test_short_run_prints_the_figures_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = soak("--short", "--only", "two", "--json", str(out), "--workdir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    header, rule, row, *notes = done.stdout.splitlines()
    assert header.split()[:3] == ["scenario", "seconds", "frames"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert row.startswith("two initiators, one export") and row.split()[-1] == "ok"
    assert row.split()[-2:] == ["B", "ok"] and row.split()[-3] == "0"  # 0 B lost
    assert any("both wrote at once" in line for line in notes)
    (figures,) = json.loads(out.read_text())
    assert figures["passed"] is True and figures["bytes_lost"] == 0 and figures["bytes_verified"] > 0
    assert "pyaoe soak: running two ..." in done.stderr
    assert list(tmp_path.iterdir()) == [out]  # the scratch folder is gone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--only", "nope"],
            "pyaoe soak: unknown scenario 'nope' "
            "(known: kill, lossy, link, full, two, stable, many, thousand)",
        ),
        (["--short", "--minutes", "3"], "pyaoe soak: give --short or --minutes, not both"),
        (["--minutes", "0"], "pyaoe soak: --minutes must be positive, not 0"),
        (["--workdir", "/nonexistent/pyaoe"], "pyaoe soak: --workdir /nonexistent/pyaoe: no such directory"),
        (["--minutes", "x"], "pyaoe soak: argument --minutes: invalid float value: 'x' (try --help)"),
    ],
)
def test_mistakes_are_one_line(args: list[str], message: str) -> None:
    done = soak(*args, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", message + "\n")


def test_help_names_every_scenario() -> None:
    done = soak("--help", timeout=30)
    assert done.returncode == 0
    assert "kill,lossy,link,full,two,stable,many,thousand" in done.stdout.replace("\n", "").replace(" ", "")
