"""The NBD side of the command line as a user types it: NBD URIs given to vblade and `pyaoe target`,
`pyaoe nbd`, and `pyaoe copy` between files, NBD exports and a loop device. Every mistake is one
line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab
from pyaoe.lab.procs import read_lines
from support.nbd import nbdkit, qemu_nbd, unix_uri
from support.target import PYAOE_TARGET, VBLADE

pytestmark = pytest.mark.timeout(180)

MiB = 1 << 20
PYAOE = (sys.executable, "-m", "pyaoe")


def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, input=stdin)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab


# -- NBD URIs where vblade takes a file name --------------------------------------------------


@pytest.mark.parametrize("command", [VBLADE, PYAOE_TARGET], ids=["vblade", "pyaoe-target"])
def test_nbd_uri_mistakes_for_targets(lab: Lab, tmp_path: Path, command: tuple[str, ...]) -> None:
    image = tmp_path / "disk.raw"
    image.write_bytes(bytes(MiB))
    with qemu_nbd(lab, tmp_path / "q.sock", image) as served:
        cases = [
            (["1", "2", "lo", unix_uri(tmp_path / "none.sock", "disk")], "no such file or directory"),
            (["1", "2", "lo", unix_uri(served.socket, "nope")], "the server has no export 'nope'"),
            (["1", "2", "lo", "nbd+unix:///disk"], "needs ?socket=PATH"),
            (["1", "2", "lo", "nbds://localhost/disk"], "TLS (nbds) is not supported"),
            (["-d", "1", "2", "lo", served.uri], "-d (O_DIRECT) applies to files, not to NBD exports"),
            (["-o", "2048", "1", "2", "lo", served.uri], "offset 2048 too large for 2048-sector export"),
            (["-l", "4096", "1", "2", "lo", served.uri], "length 4096 too big"),
            (["1", "2", "lo", "nbd://127.0.0.1:1/disk"], "cannot open nbd://127.0.0.1:1/disk"),
        ]
        for args, message in cases:
            line = one_line(run(*command, *args))
            assert message in line, (args, line)
            assert line.startswith(("vblade: ", "pyaoe target: "))


# -- pyaoe nbd ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "one of the arguments --socket --listen is required"),
        (("--socket", "/tmp/x.sock", "--listen", "1"), "not allowed with argument"),
        (("--listen", "localhost:99999"), "--listen port 99999 is out of range"),
        (("--listen", "x:y"), "--listen port must be a number"),
        (("--socket", "/etc/passwd"), "/etc/passwd exists and is not a socket"),
        (("--deadsecs", "soon", "--socket", "/tmp/x.sock"), "invalid float value"),
    ],
)
def test_pyaoe_nbd_mistakes(args: tuple[str, ...], message: str) -> None:
    line = one_line(run(*PYAOE, "nbd", *args))
    assert line.startswith("pyaoe nbd: ") and message in line, line


@pytest.mark.skipif(os.geteuid() != 0, reason="pyaoe nbd needs root")
def test_pyaoe_nbd_warns_when_listening_beyond_loopback(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*PYAOE, "nbd", "--iflist", "lo", "--listen", "0.0.0.0:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        lines = read_lines(proc, 1, time.monotonic() + 30)
        assert lines and "serving AoE devices as NBD exports on 0.0.0.0:" in lines[0], lines
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
        assert "warning: listening on every address: NBD has no authentication" in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- pyaoe copy ------------------------------------------------------------------------------------


def sparse_image(path: Path) -> bytes:
    """8 MiB: random data in the first and last MiB, zeroes between."""
    data = os.urandom(MiB) + bytes(6 * MiB) + os.urandom(MiB)
    path.write_bytes(data)
    return data


def test_copy_file_to_nbd_and_back_sparse(lab: Lab, tmp_path: Path) -> None:
    src = tmp_path / "src.img"
    data = sparse_image(src)
    target = tmp_path / "nbd.raw"
    target.write_bytes(b"\xff" * len(data))  # stale bytes that must not survive
    with qemu_nbd(lab, tmp_path / "q.sock", target) as served:
        pushed = run(*PYAOE, "copy", "--verify", str(src), served.uri)
        assert pushed.returncode == 0, pushed.stderr
        assert "verified: sha256" in pushed.stdout
        # Not a terminal: plain progress lines, and the last says 100 %.
        progress = [line for line in pushed.stdout.splitlines() if line.startswith("copy: ")]
        assert progress and "(100%)" in progress[-1] and "MB/s" in progress[-1]
        dst = tmp_path / "pulled.img"
        dst.write_bytes(b"\xee" * (3 * len(data)))  # an old, larger file: emptied first
        pulled = run(*PYAOE, "copy", served.uri, str(dst))
        assert pulled.returncode == 0, pulled.stderr
        assert "6 MiB of zeroes left as holes" in pulled.stdout
    assert target.read_bytes() == data
    assert dst.read_bytes() == data
    # The zero run is a hole: only the two data MiB (and some metadata) use blocks.
    assert dst.stat().st_blocks * 512 <= 3 * MiB


def test_copy_to_a_device_writes_the_zeroes(tmp_path: Path) -> None:
    src = tmp_path / "src.img"
    data = sparse_image(src)
    backing = tmp_path / "loop.img"
    backing.write_bytes(b"\xff" * len(data))
    loop = run("losetup", "-f", "--show", str(backing))
    if loop.returncode != 0:
        pytest.fail(f"losetup: {loop.stderr}")
    device = loop.stdout.strip()
    try:
        done = run(*PYAOE, "copy", "-q", "--verify", str(src), device)
        assert done.returncode == 0, done.stderr
        assert "6 MiB of zeroes written" in done.stdout
    finally:
        run("losetup", "-d", device)
    assert backing.read_bytes() == data


def test_copy_verify_fails_when_the_destination_drops_writes(lab: Lab, tmp_path: Path) -> None:
    src = tmp_path / "src.img"
    sparse_image(src)
    # nbdkit's null plugin accepts every write and reads back zeroes.
    with nbdkit(lab, tmp_path / "k.sock", "null", "size=8M") as served:
        done = run(*PYAOE, "copy", "-q", "--verify", str(src), unix_uri(served.socket))
    assert done.returncode == 1
    assert "verify FAILED" in one_line(done)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("{d}/missing.img", "{d}/out.img"), "cannot open {d}/missing.img: No such file or directory"),
        (("{d}/src.img", "{d}/src.img"), "are the same"),
        (
            ("{d}/src.img", "nbd+unix:///x"),
            "cannot open nbd+unix:///x: nbd+unix:///x: nbd+unix:// needs ?socket",
        ),
        (("{d}/src.img", "aoe:disk"), "not an AoE device"),
        (("{d}/src.img",), "the following arguments are required: DST"),
        (("--timeout", "0", "{d}/src.img", "{d}/o"), "--timeout must be positive"),
    ],
)
def test_copy_mistakes(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "src.img").write_bytes(bytes(MiB))
    argv = [a.replace("{d}", str(tmp_path)) for a in args]
    line = one_line(run(*PYAOE, "copy", *argv))
    assert line.startswith("pyaoe copy: ") and message.replace("{d}", str(tmp_path)) in line, line


def test_copy_to_a_smaller_export_is_refused(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "src.img").write_bytes(bytes(MiB))
    small = tmp_path / "small.raw"
    small.write_bytes(bytes(4096))
    with qemu_nbd(lab, tmp_path / "q.sock", small) as served:
        line = one_line(run(*PYAOE, "copy", str(tmp_path / "src.img"), served.uri))
    assert "(4096 bytes) is smaller than" in line
