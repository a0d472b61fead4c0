"""vblade, vbladed and `pyaoe target` as a user types them: every mistake is exactly one line on
stderr and a non-zero exit; --help works; the startup line is vblade 25's; vbladed detaches,
prints the serving pid, and logs to syslog."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyaoe.lab.netns import Link
from support.target import PYAOE_TARGET, STARTUP_LINE, VBLADE, VBLADED, start_target

MIB = 1 << 20


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vblade-cli") / "disk.img"
    path.write_bytes(bytes(MIB))  # 2048 sectors
    return path


def run(command: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)


#: (arguments, what the one line on stderr says); {d} is a 1 MiB disk image, {dir} its folder.
MISTAKES: list[tuple[tuple[str, ...], str]] = [
    ((), "the following arguments are required: shelf, slot, netif, filename"),
    (("1",), "the following arguments are required: slot, netif, filename"),
    (("1", "2", "lo"), "the following arguments are required: filename"),
    (("1", "2", "lo", "{d}", "extra"), "unrecognized arguments: extra"),
    (("-x", "1", "2", "lo", "{d}"), "unrecognized arguments: -x"),
    (("65535", "2", "lo", "{d}"), "shelf 65535 is out of range (0-65534)"),
    (("-1", "2", "lo", "{d}"), "shelf -1 is out of range (0-65534)"),
    (("shelf", "2", "lo", "{d}"), "shelf must be a number, not 'shelf'"),
    (("1", "255", "lo", "{d}"), "slot 255 is out of range (0-254)"),
    (("1", "x", "lo", "{d}"), "slot must be a number, not 'x'"),
    (("-b", "0", "1", "2", "lo", "{d}"), "buffer count (-b) 0 is out of range (1-65535)"),
    (("-b", "65536", "1", "2", "lo", "{d}"), "buffer count (-b) 65536 is out of range (1-65535)"),
    (("-b", "many", "1", "2", "lo", "{d}"), "buffer count (-b) must be a number, not 'many'"),
    (("-b",), "argument -b: expected one argument"),
    (("-m", "zz", "1", "2", "lo", "{d}"), "-m: 'zz' is not a MAC address"),
    (("-m", "02:00:00:00:00:01,02:00:00:00:01", "1", "2", "lo", "{d}"), "is not a MAC address"),
    (("-o", "2048", "1", "2", "lo", "{d}"), "offset 2048 too large for 2048-sector file"),
    (("-o", "-3", "1", "2", "lo", "{d}"), "offset (-o) -3 is out of range"),
    (("-l", "2049", "1", "2", "lo", "{d}"), "length 2049 too big"),
    (("-o", "2000", "-l", "49", "1", "2", "lo", "{d}"), "length 49 too big"),
    (("-l", "0", "1", "2", "lo", "{d}"), "length (-l) 0 is out of range (>= 1)"),
    (("1", "2", "lo", "{d}.missing"), "no such file or directory"),
    (("1", "2", "lo", "{dir}"), "it is a directory"),
    (("-r", "1", "2", "lo", "{dir}"), "it is a directory"),
    (("1", "2", "lo", "/dev/null"), "not a regular file or block device"),
    (("1", "2", "nosuchif0", "{d}"), "no such interface: nosuchif0"),
]


def fill(args: tuple[str, ...], disk: Path) -> list[str]:
    return [a.replace("{dir}", str(disk.parent)).replace("{d}", str(disk)) for a in args]


def check_one_line(result: subprocess.CompletedProcess[str], prog: str, expected: str) -> None:
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result
    assert len(lines) == 1, f"expected one line on stderr, got {result.stderr!r}"
    assert lines[0].startswith(f"{prog}: "), lines[0]
    assert expected in lines[0], lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(("args", "expected"), MISTAKES, ids=[e for _a, e in MISTAKES])
def test_each_vblade_mistake_is_one_line_and_a_failure(disk, args, expected):
    check_one_line(run(VBLADE, *fill(args, disk)), "vblade", expected)


@pytest.mark.parametrize(("args", "expected"), MISTAKES[::3], ids=[e for _a, e in MISTAKES[::3]])
def test_vbladed_reports_mistakes_in_the_foreground(disk, args, expected):
    check_one_line(run(VBLADED, *fill(args, disk)), "vbladed", expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "expected 4 arguments: shelf slot netif filename"),
        (("1", "2", "lo"), "expected 4 arguments"),
        (("65535", "2", "lo", "{d}"), "shelf 65535 is out of range (0-65534)"),
        (("--admin", "nope", "1", "2", "lo", "{d}"), "--admin: 'nope' is not a MAC address"),
        (("-c", "{d}.toml"), "cannot read"),
        (("-c", "{d}.toml", "1", "2", "lo", "{d}"), "give either --config or shelf slot netif filename"),
        (("1", "2", "lo,nosuchif0", "{d}"), "no such interface: nosuchif0"),
    ],
)
def test_pyaoe_target_mistakes(disk, args, expected):
    check_one_line(run(PYAOE_TARGET, *fill(args, disk)), "pyaoe target", expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[export]]\nshelf = 1\nslot = 2\nnetif = "lo"\nfile = "{d}"\nread_only = true\n',
            "unknown key 'read_only'",
        ),
        (
            '[default]\nnetif = "lo"\n[[export]]\nshelf = 1\nslot = 2\nfile = "{d}"\n',
            "unknown table or key 'default'",
        ),
        ('[[export]]\nshelf = 1\nslot = 2\nfile = "{d}"\n', "export 1: 'netif' is missing"),
        ("[defaults]\nnetif = 'lo'\n", "no [[export]] tables"),
        ("[[export]\n", "exports.toml: "),
    ],
)
def test_toml_mistakes_name_the_file_and_the_key(disk, tmp_path, text, expected):
    toml = tmp_path / "exports.toml"
    toml.write_text(text.replace("{d}", str(disk)))
    check_one_line(run(PYAOE_TARGET, "-c", str(toml)), "pyaoe target", expected)


def test_an_empty_file_is_refused(tmp_path):
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"\0" * 100)
    check_one_line(run(VBLADE, "1", "2", "lo", str(empty)), "vblade", "smaller than one 512-byte sector")


def test_an_unreadable_file_is_refused(tmp_path):
    locked = tmp_path / "locked.img"
    locked.write_bytes(bytes(4096))
    locked.chmod(0)
    # root ignores file modes; drop to nobody for the open.
    result = subprocess.run(
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            *VBLADE,
            "1",
            "2",
            "lo",
            str(locked),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    check_one_line(result, "vblade", "Permission denied")


@pytest.mark.parametrize("command", [VBLADE, VBLADED, PYAOE_TARGET])
def test_help_works(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert result.stderr == ""
    for option in ("-b", "-d", "-s", "-r", "-m", "-o", "-l"):
        assert re.search(rf"(^|\s|\[){re.escape(option)}\b", result.stdout), option
    assert "shelf" in result.stdout and "slot" in result.stdout and "netif" in result.stdout


def test_vblade_usage_is_vblade_25s():
    usage = run(VBLADE, "--help").stdout.splitlines()[0]
    assert usage == (
        "usage: vblade [-b bufcnt] [-d] [-s] [-r] [-m mac[,mac...]] [-o offset] [-l length]"
        " shelf slot netif filename"
    )


# -- a running target ----------------------------------------------------------------------------
@pytest.mark.netns
@pytest.mark.parametrize(
    ("options", "sectors", "mode"),
    [
        ((), 2048, "O_RDWR"),
        (("-r",), 2048, "O_RDONLY"),
        (("-o", "100"), 1948, "O_RDWR"),
        (("-o", "100", "-l", "50", "-r"), 50, "O_RDONLY"),
        (("-l", "7", "-b", "64", "-s", "-m", "02:00:00:00:00:01"), 7, "O_RDWR"),
        (("-d",), 2048, "O_RDWR"),
    ],
)
def test_startup_line(link, disk, options, sectors, mode):
    lab, here, there = link
    shelf, slot = 12, 34
    with start_target(
        lab, there, [*options, str(shelf), str(slot), there.ifname, str(disk)], listen=here
    ) as t:
        assert len(t.lines) == 1
        assert t.lines[0] == f"pid {t.proc.pid}: e{shelf}.{slot}, {sectors} sectors {mode}"
        assert STARTUP_LINE.match(t.lines[0])
        assert t.alive()
        assert t.stop() == 0, t.stderr()


@pytest.mark.netns
def test_pyaoe_target_prints_one_startup_line_per_export(link, disk, tmp_path):
    lab, here, there = link
    other = tmp_path / "other.img"
    other.write_bytes(bytes(64 * 512))
    toml = tmp_path / "exports.toml"
    toml.write_text(
        f'[defaults]\nnetif = "{there.ifname}"\n'
        f'[[export]]\nshelf = 3\nslot = 1\nfile = "{disk}"\n'
        f'[[export]]\nshelf = 3\nslot = 2\nfile = "{other}"\nreadonly = true\n'
    )
    with start_target(lab, there, ["-c", str(toml)], listen=here, command=PYAOE_TARGET, exports=2) as t:
        pid = t.proc.pid
        assert t.lines == [f"pid {pid}: e3.1, 2048 sectors O_RDWR", f"pid {pid}: e3.2, 64 sectors O_RDONLY"]
        assert len(t.announcements) == 2


@pytest.mark.netns
def test_sigterm_stops_the_target_cleanly(link, disk):
    lab, here, there = link
    t = start_target(lab, there, ["5", "6", there.ifname, str(disk)], listen=here)
    try:
        assert t.stop() == 0
        assert "Traceback" not in t.stderr()
    finally:
        t.close()


@pytest.mark.netns
def test_sigterm_right_after_start_always_stops_the_target(link, disk):
    """A SIGTERM that arrived just before the target blocked in its first receive used to be
    held until a frame came (forever, on a quiet network): about one start in fifty."""
    lab, here, there = link
    for _ in range(12):
        t = start_target(lab, there, ["5", "7", there.ifname, str(disk)], listen=here)
        try:
            # stop() fails (with the process's stack, from faulthandler) if SIGTERM is ignored.
            assert t.stop(timeout=30) == 0, t.stderr()
        finally:
            t.close()


@pytest.mark.netns
def test_vbladed_detaches_and_its_startup_line_names_the_serving_process(link, disk):
    lab, here, there = link
    with start_target(lab, there, ["7", "8", there.ifname, str(disk)], listen=here, command=VBLADED) as t:
        # The foreground process has exited successfully; the daemon serves on.
        assert t.proc.wait(timeout=10) == 0
        assert t.pid != t.proc.pid
        assert t.alive()
        assert os.getsid(t.pid) != os.getsid(0), "the daemon left our session"
        assert Path(f"/proc/{t.pid}/cmdline").read_bytes().split(b"\0")[1].endswith(b"vbladed")
        # Nothing was left on the terminal (but the one line that says syslog is missing).
        assert t.stderr() in ("", NO_SYSLOG)
        t.stop()
        assert not t.alive()


NO_SYSLOG = "vbladed: /dev/log is missing (no syslog): log lines will be lost\n"


def with_private_dev(there: Link, tmp_path: Path, with_log: bool) -> tuple[list[str], socket.socket]:
    """A command prefix that runs the rest in ``there``'s namespace and a private mount namespace
    whose /dev holds null and, ``with_log``, our own /dev/log socket (returned, to read)."""
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "null").touch()
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.settimeout(10)
    if with_log:
        log.bind(str(dev / "log"))
    script = (
        f"mount --bind /dev/null {dev}/null && mount --rbind {dev} /dev && "
        f'exec nsenter --net=/run/netns/{there.netns} -- "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"], log


def vbladed_with_private_dev(
    there: Link, tmp_path: Path, args: list[str], with_log: bool
) -> tuple[subprocess.CompletedProcess[str], socket.socket]:
    prefix, log = with_private_dev(there, tmp_path, with_log)
    return subprocess.run([*prefix, *VBLADED, *args], capture_output=True, text=True, timeout=30), log


@pytest.mark.netns
def test_pyaoe_target_syslog_sends_its_log_lines_to_dev_log(link, disk, tmp_path):
    _lab, _here, there = link
    prefix, log = with_private_dev(there, tmp_path, True)
    argv = [*prefix, *PYAOE_TARGET, "--syslog", "5", "6", there.ifname, str(disk)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert STARTUP_LINE.match(line), line
        proc.send_signal(15)
        assert proc.wait(timeout=30) == 0
        message = log.recv(4096).decode().rstrip("\0")
        assert message.endswith(f"pyaoe target[{proc.pid}]: stopping"), message
        assert proc.stderr is not None and proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


@pytest.mark.netns
@pytest.mark.parametrize("with_syslog", [False, True], ids=["no-dev-log", "dev-log"])
def test_vbladed_says_once_that_its_log_lines_are_lost_without_syslog(link, disk, tmp_path, with_syslog):
    """A private /dev with or without a log socket: one line on stderr when there is none."""
    _lab, _here, there = link
    result, log = vbladed_with_private_dev(there, tmp_path, ["9", "11", there.ifname, str(disk)], with_syslog)
    m = STARTUP_LINE.match(result.stdout.strip())
    try:
        assert result.returncode == 0, result.stderr
        assert m, result.stdout
        assert result.stderr == ("" if with_syslog else NO_SYSLOG)
    finally:
        log.close()
        if m:
            stop_pid(int(m["pid"]))


@pytest.mark.netns
def test_vbladed_logs_to_syslog(link, disk, tmp_path):
    """vbladed's messages reach /dev/log. A private mount namespace puts our own socket there."""
    _lab, _here, there = link
    result, log = vbladed_with_private_dev(there, tmp_path, ["9", "10", there.ifname, str(disk)], True)
    m = STARTUP_LINE.match(result.stdout.strip())
    try:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert m, result.stdout
        message = log.recv(4096).decode().rstrip("\0")
        assert message.endswith(f"vbladed[{m['pid']}]: {result.stdout.strip()}"), message
    finally:
        log.close()
        if m:
            stop_pid(int(m["pid"]))


def stop_pid(pid: int) -> None:
    """SIGTERM a daemon we started and wait until it is gone."""
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_python_m_pyaoe_target_is_the_same_command(disk):
    check_one_line(
        subprocess.run(
            [sys.executable, "-m", "pyaoe", "target", "70000", "1", "lo", str(disk)],
            capture_output=True,
            text=True,
        ),
        "pyaoe target",
        "shelf 70000 is out of range",
    )
