"""pyaoe's systemd units as installed by `pyaoe install-units`: `systemd-analyze verify` passes on
each (with their manual pages on MANPATH), and each unit's ExecStart, ExecReload and stop run as
systemd would run them (systemd is not PID 1 here), with a NOTIFY_SOCKET listening: READY=1 once
every export serves, RELOADING=1 with MONOTONIC_USEC then READY=1 around a reload (ExecReload
fails on a bad file, the exports untouched), STOPPING=1 and exit 0 on SIGTERM. The vblade
template reads Debian's /etc/vblade.conf.d format. pyaoe-initiator.service says READY=1 once its
tree is mounted and its first discovery went out, ExecReload (SIGHUP) rescans and discovers
without stopping it, and SIGTERM brings STOPPING=1, an unmount and exit 0."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyaoe.cli.manpages import scripts_of, write_pages
from pyaoe.lab.netns import Lab, Link
from pyaoe.lab.procs import read_lines
from support.initiator_daemon import CTL, unique_root
from support.target import VBLADE, Listener, is_announcement, start_target
from support.wait import wait_until

pytestmark = [pytest.mark.netns]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MIB = 1 << 20


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("units")
    result = subprocess.run(
        [
            str(BIN / "pyaoe"),
            "install-units",
            "--unit-dir",
            str(where / "system"),
            "--generator-dir",
            str(where / "gen"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    write_pages(scripts_of(ROOT / "pyproject.toml"), where / "man" / "man8")
    return where


@pytest.mark.parametrize(
    "unit",
    ["pyaoe-target.service", "pyaoe-initiator.service", "pyaoe-vblade@demo.service", "pyaoe-vblade.service"],
)
def test_systemd_analyze_verify_passes(units: Path, unit: str) -> None:
    system = units / "system"
    if "@demo" in unit:
        (system / unit).unlink(missing_ok=True)
        (system / unit).symlink_to("pyaoe-vblade@.service")
    env = {**os.environ, "MANPATH": f"{units / 'man'}:"}
    result = subprocess.run(
        ["systemd-analyze", "verify", str(system / unit)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr


class Notifications:
    """A NOTIFY_SOCKET, as systemd listens on one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))

    def next(self, timeout: float = 20) -> dict[str, str]:
        self.sock.settimeout(timeout)
        message = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in message.splitlines())

    def close(self) -> None:
        self.sock.close()


def exec_line(unit: Path, key: str) -> str:
    for line in unit.read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"no {key}= in {unit}")


@pytest.fixture
def link() -> Iterator[tuple[Lab, Link, Link]]:
    with Lab() as lab:
        ns = lab.netns("sdu")
        there, here = lab.veth(ns, None)
        yield lab, here, there


def test_pyaoe_target_service_notifies_ready_reloading_and_stopping(units, link, tmp_path):
    lab, here, there = link
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(MIB))
    config = tmp_path / "target.toml"
    table = f'[[export]]\nshelf = 4\nslot = 1\nnetif = "{there.ifname}"\nfile = "{disk}"\n'
    config.write_text(table)
    # The unit's own lines, with this test's paths for the ones a real installation uses.
    paths = {
        "/etc/pyaoe/target.toml": str(config),
        "/var/lib/pyaoe": str(tmp_path / "state"),
        "/run/pyaoe/target.sock": str(tmp_path / "target.sock"),
    }

    def line(key: str) -> list[str]:
        text = exec_line(units / "system" / "pyaoe-target.service", key)
        for real, ours in paths.items():
            text = text.replace(real, ours)
        return shlex.split(text)

    notify = Notifications(tmp_path / "notify")
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path)}
    listener = Listener(here)
    proc = lab.popen(there.netns, line("ExecStart"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = notify.next()
        assert ready["READY"] == "1" and ready["STATUS"] == "serving 1 exports on 1 interfaces"
        listener.wait_for(lambda f: is_announcement(f, 4, 1))
        config.write_text(table + table.replace("slot = 1", "slot = 2"))
        reload = subprocess.run(line("ExecReload"), env=env, capture_output=True, text=True, timeout=60)
        assert reload.returncode == 0, reload.stderr
        reloading = notify.next()
        assert reloading["RELOADING"] == "1"
        assert (
            abs(int(reloading["MONOTONIC_USEC"]) - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 60e6
        )
        assert notify.next()["READY"] == "1"
        listener.wait_for(lambda f: is_announcement(f, 4, 2))
        config.write_text("[[export]\n")
        bad = subprocess.run(line("ExecReload"), env=env, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "target.toml" in bad.stderr
        assert notify.next()["RELOADING"] == "1" and notify.next()["READY"] == "1"
        proc.send_signal(signal.SIGTERM)  # what systemctl stop does (KillMode=mixed)
        assert notify.next()["STOPPING"] == "1"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
        notify.close()


def systemd_environment(text: str) -> dict[str, str]:
    """An EnvironmentFile= as systemd reads it: KEY=VALUE lines, quotes removed, # comments."""
    env = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, _eq, value = line.partition("=")
        env[key.strip()] = " ".join(shlex.split(value))
    return env


def expand(command: str, env: dict[str, str]) -> list[str]:
    """systemd's Exec line expansion: $VAR alone becomes its value split into words."""
    words: list[str] = []
    for word in command.split():
        match = re.fullmatch(r"\$(\w+)", word)
        words += env.get(match.group(1), "").split() if match else [word]
    return words


def test_pyaoe_vblade_instance_reads_debians_conf_and_notifies_ready(units, link, tmp_path):
    lab, _here, there = link
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(MIB))
    # A file in Debian's vblade-persistence format, as /etc/vblade.conf.d/demo.conf would hold it.
    conf = tmp_path / "demo.conf"
    conf.write_text(
        "# This is a POSIX shell fragment\n"
        f"shelf=10\nslot=3\nnetif={there.ifname}\nfilename={disk}\n"
        "options='-r -b 8'\nionice='--class best-effort --classdata 7'\n"
    )
    unit = units / "system" / "pyaoe-vblade@.service"
    env = {"ionice": "-c2 -n7"}  # the unit's Environment= default, then the file
    env.update(systemd_environment(conf.read_text()))
    argv = expand(exec_line(unit, "ExecStart"), env)
    assert argv[:5] == ["/usr/bin/ionice", "--class", "best-effort", "--classdata", "7"]
    notify = Notifications(tmp_path / "notify")
    proc = lab.popen(
        there.netns, argv, env={**os.environ, "NOTIFY_SOCKET": str(notify.path)}, stdout=subprocess.PIPE
    )
    try:
        assert notify.next()["READY"] == "1"
        assert read_lines(proc, 1, time.monotonic() + 10) == [f"pid {proc.pid}: e10.3, 2048 sectors O_RDONLY"]
        proc.send_signal(signal.SIGTERM)
        assert notify.next()["STOPPING"] == "1"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()


def test_the_generator_wants_an_instance_for_each_complete_conf(units, tmp_path):
    """pyaoe-vblade-generator, run as systemd runs generators, on a copy of its conf dir."""
    generator = (units / "gen" / "pyaoe-vblade-generator").read_text()
    confdir = tmp_path / "vblade.conf.d"
    confdir.mkdir()
    (confdir / "good.conf").write_text("shelf=1\nslot=2\nnetif=eth0\nfilename=/dev/null\n")
    (confdir / "partial.conf").write_text("shelf=1\nslot=3\n")
    (confdir / "broken.conf").write_text("shelf=(\n")
    (confdir / "skeleton.conf").write_text("# shelf=\n")
    script = tmp_path / "generator"
    script.write_text(generator.replace("CONFIG_DIR=/etc/vblade.conf.d", f"CONFIG_DIR={confdir}"))
    script.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run([str(script), str(out), str(out), str(out)], check=True, timeout=30)
    wants = sorted(p.name for p in (out / "pyaoe-vblade.service.wants").iterdir())
    assert wants == ["pyaoe-vblade@good.service"]
    link = out / "pyaoe-vblade.service.wants" / "pyaoe-vblade@good.service"
    assert os.readlink(link) == f"{units / 'system'}/pyaoe-vblade@.service"


def is_broadcast_query(frame: bytes) -> bool:
    """A Query Config request to every shelf and slot: an initiator's discovery."""
    return (
        frame[:6] == b"\xff" * 6
        and frame[12:14] == b"\x88\xa2"
        and frame[14] & 0x08 == 0
        and (frame[16:20] == b"\xff\xff\xff\x01")
    )


def test_pyaoe_initiator_service_notifies_ready_rescans_on_reload_and_stops(units, link, tmp_path):
    lab, here, there = link
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(MIB))
    root = unique_root("aoe-sdu")
    sock = tmp_path / "initiator.sock"
    paths = {"/run/aoe": str(root), "/run/pyaoe/initiator.sock": str(sock)}
    unit = units / "system" / "pyaoe-initiator.service"

    def line(key: str, **env: str) -> list[str]:
        text = exec_line(unit, key)
        for real, ours in [*paths.items(), *((f"${k}", v) for k, v in env.items())]:
            text = text.replace(real, ours)
        return shlex.split(text)

    notify = Notifications(tmp_path / "notify")
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path)}
    heard = Listener(there)
    # Only this test's interface: the unit's line, left alone, would discover on every one.
    argv = [*line("ExecStart"), "--iflist", here.ifname]
    log = tmp_path / "initiator.log"
    with (
        start_target(lab, there, ["5", "1", there.ifname, str(disk)], listen=here, command=VBLADE),
        log.open("w") as err,
    ):
        proc = lab.popen(None, argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            ready = notify.next()
            assert ready["READY"] == "1"
            assert ready["STATUS"] == f"tree at {root}; discovery sent on {here.ifname}"
            assert os.path.ismount(root) and (root / "etherd" / "discover").exists()
            heard.wait_for(is_broadcast_query)
            wait_until(lambda: (root / "etherd" / "e5.1").exists(), 15, "e5.1 in the tree")
            listed = subprocess.run(
                [*CTL, "--socket", str(sock), "list"], capture_output=True, text=True, timeout=60
            )
            assert listed.returncode == 0 and listed.stdout.splitlines()[1].split()[:2] == ["e5.1", "up"]

            reload = subprocess.run(line("ExecReload", MAINPID=str(proc.pid)), timeout=60)
            assert reload.returncode == 0
            said = f"rescanned the interfaces (in use: {here.ifname}) and sent a discovery"
            wait_until(lambda: said in log.read_text(), 15, "the SIGHUP line")
            assert proc.poll() is None and os.path.ismount(root)

            proc.send_signal(signal.SIGTERM)  # what systemctl stop does (KillMode=mixed)
            assert notify.next()["STOPPING"] == "1"
            assert proc.wait(timeout=60) == 0
            assert not os.path.ismount(root) and not root.exists()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if os.path.ismount(root):
                subprocess.run(["umount", "-l", str(root)], check=False)
            heard.close()
            notify.close()
