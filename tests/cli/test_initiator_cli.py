"""`pyaoe initiator` as a user types it: --help lists the options; every mistake (options, mount
point) is one `pyaoe initiator: ...` line on stderr and exit 1, and leaves nothing mounted."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pyaoe

PYAOE_INITIATOR = (sys.executable, "-m", "pyaoe", "initiator")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYAOE_INITIATOR, *args], capture_output=True, text=True, timeout=60)


def test_help_shows_the_options() -> None:
    result = run("--help")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: pyaoe initiator ")
    for option in (
        "--root DIR",
        "--iflist IF[,IF...]",
        "--deadsecs N",
        "--maxout N",
        "--dyndevs 0|1",
        "--control-socket PATH",
        "--metrics [HOST:]PORT",
        "--pidfile PATH",
        "--syslog",
    ):
        assert option in result.stdout
    assert "default /run/aoe" in result.stdout and "(default 180)" in result.stdout
    assert "(default 128)" in result.stdout
    assert "/run/pyaoe/initiator.sock; 'none': no control socket" in " ".join(result.stdout.split())


def test_listed_by_pyaoe() -> None:
    result = subprocess.run([sys.executable, "-m", "pyaoe", "--help"], capture_output=True, text=True)
    assert any(line.split()[:1] == ["initiator"] for line in result.stdout.splitlines())


MISTAKES: list[tuple[tuple[str, ...], str]] = [
    (("--dyndevs", "2"), "dyndevs 2 is out of range (0-1)"),
    (("--dyndevs", "yes"), "dyndevs must be a number, not 'yes'"),
    (("--maxout", "0"), "maxout 0 is out of range (1-65535)"),
    (("--maxout", "lots"), "maxout must be a number, not 'lots'"),
    (("--deadsecs", "-1"), "deadsecs -1 is out of range (>= 0)"),
    (("--deadsecs", "soon"), "deadsecs must be a number of seconds, not 'soon'"),
    (("--deadsecs", "nan"), "deadsecs nan is out of range (>= 0)"),
    (("--iflist", "e" * 1100), "--iflist: could not set interface list: too many interfaces"),
    (("--bogus",), "unrecognized arguments: --bogus (try --help)"),
    (("extra",), "unrecognized arguments: extra (try --help)"),
    (("--root",), "argument --root: expected one argument (try --help)"),
]


@pytest.mark.parametrize(("args", "message"), MISTAKES)
def test_a_mistake_is_one_line(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"pyaoe initiator: {message}\n"


def test_without_the_fuse_extra_it_says_what_to_install(tmp_path: Path) -> None:
    """`pip install pyaoe` without [fuse]: the interpreter the venv came from, without any
    site-packages (-S), with pyaoe from its source: one line naming the extra, exit 1, nothing
    made at the mount point."""
    base = [getattr(sys, "_base_executable", sys.executable), "-S"]
    env = {**os.environ, "PYTHONPATH": str(Path(pyaoe.__file__).resolve().parents[1])}
    assert subprocess.run([*base, "-c", "import pyfuse3"], env=env, capture_output=True).returncode == 1
    root = tmp_path / "aoe"
    result = subprocess.run(
        [*base, "-m", "pyaoe", "initiator", "--root", str(root), "--iflist", "lo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "pyaoe initiator: pyfuse3 is not installed; the FUSE tree needs the fuse extra: "
        "pip install 'pyaoe[fuse]' (pyfuse3 builds against libfuse3: apt-get install "
        "libfuse3-dev pkg-config gcc)\n"
    )
    assert not root.exists()
    # Option mistakes still come first, and --help works.
    mistake = subprocess.run(
        [*base, "-m", "pyaoe", "initiator", "--maxout", "0"], env=env, capture_output=True
    )
    assert mistake.stderr == b"pyaoe initiator: maxout 0 is out of range (1-65535)\n"
    assert subprocess.run([*base, "-m", "pyaoe", "initiator", "--help"], env=env).returncode == 0


def test_mount_point_mistakes(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    full = tmp_path / "full"
    full.mkdir()
    (full / "something").write_text("x")
    cases = {
        str(a_file): f"mount point {a_file} is not a directory",
        str(full): f"mount point {full} is not empty",
        str(
            tmp_path / "no" / "aoe"
        ): f"mount point {tmp_path / 'no' / 'aoe'}: its parent {tmp_path / 'no'} does not exist",
        "/": "mount point / is busy: something is mounted there already",
    }
    for root, message in cases.items():
        result = run("--root", root)
        assert (result.returncode, result.stderr) == (1, f"pyaoe initiator: {message}\n")
    assert not os.path.ismount(full)
    assert sorted(os.listdir(tmp_path)) == ["file", "full"]


def test_syslog(tmp_path: Path) -> None:
    """--syslog sends the log to /dev/log. A private mount namespace puts our own socket there
    (with /dev/null and /dev/fuse beside it); the daemon's mount stays in that namespace."""
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("null", "fuse"):
        (dev / name).touch()
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind(str(dev / "log"))
    log.settimeout(0.5)
    root = f"/run/aoe-sl{os.getpid()}"
    script = (
        f"mount --bind /dev/null {dev}/null && mount --bind /dev/fuse {dev}/fuse && "
        f'mount --rbind {dev} /dev && exec "$@"'
    )
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    proc = subprocess.Popen(
        [*argv, *PYAOE_INITIATOR, "--syslog", "--root", root, "--iflist", "lo", "--control-socket", "none"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    messages: list[str] = []

    def wait_for_message(text: str) -> None:
        deadline = time.monotonic() + 30
        while not any(text in m for m in messages):
            assert time.monotonic() < deadline, f"no {text!r} in {messages}"
            assert proc.poll() is None or text == "stopped by SIGTERM", proc.communicate()
            with contextlib.suppress(TimeoutError):
                messages.append(log.recv(4096).decode().rstrip("\0"))

    try:
        wait_for_message("serving the AoE initiator's tree")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        wait_for_message("stopped by SIGTERM")
        assert proc.stderr is not None and proc.stderr.read() == ""
        assert all(f"pyaoe-initiator[{proc.pid}]: " in m for m in messages), messages
        assert not Path(root).exists()
    finally:
        log.close()
        proc.kill()
        proc.wait()
