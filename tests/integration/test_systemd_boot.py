"""pyaoe's units under a real systemd: a systemd-nspawn container booted from the host's /usr
(systemd is not PID 1 on this machine), the units put in by `pyaoe install-units`, and Debian's
aoeping and aoecfg on a veth pair into it. pyaoe-target.service comes up (Type=notify), an export
added to /etc/pyaoe/target.toml answers after `systemctl reload`, a file with a mistake makes the
reload fail and changes nothing, `systemctl stop` ends it with status 0; pyaoe-vblade.service
starts pyaoe-vblade@NAME.service for a Debian /etc/vblade.conf.d/NAME.conf. pyaoe-initiator.service
in a container given /dev/fuse serves a target outside to aoe-stat and dd, and stops cleanly."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab, Link, unique_name
from support.target import PYAOE_TARGET, start_target

pytestmark = [pytest.mark.netns, pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NSPAWN = shutil.which("systemd-nspawn")
AOEPING = "/usr/sbin/aoeping"
AOECFG = "/usr/sbin/aoecfg"
AOE_STAT = "/usr/sbin/aoe-stat"


@dataclass
class Container:
    root: Path
    proc: subprocess.Popen[str]
    leader: int

    def run(self, *argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """A command inside the container (all its namespaces)."""
        return subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def wait_active(self, unit: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-active", unit).stdout.strip()
            if state == "active":
                return state
            time.sleep(0.2)
        log = self.run("journalctl", "-u", unit, "--no-pager").stdout
        raise AssertionError(f"{unit} is {state!r}, not active:\n{log}")


def _leader(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    """The container's PID 1 (systemd), once it runs: systemd-nspawn's child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if children.exists():
            for pid in children.read_text().split():
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return int(pid)
        if proc.poll() is not None:
            raise AssertionError(f"systemd-nspawn exited: {proc.communicate()[0]}")
        time.sleep(0.1)
    raise AssertionError("the container's systemd never started")


def _make_root(root: Path, netif: str, enabled: str) -> None:
    """A root with the host's /usr (bound at boot), a copy of /etc's basics, pyaoe's units (the
    ``enabled`` one started at boot)."""
    for name in ("etc", "var", "run", "tmp", "proc", "sys", "dev", "root", "srv", "usr"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        (root / link).symlink_to(f"usr/{link}")
    etc = root / "etc"
    shutil.copy("/usr/lib/os-release", etc / "os-release")
    for name in ("passwd", "group", "shadow", "nsswitch.conf"):
        shutil.copy(f"/etc/{name}", etc / name)
    shutil.copytree("/etc/systemd", etc / "systemd", symlinks=True)
    shutil.copytree("/etc/alternatives", etc / "alternatives", symlinks=True)
    subprocess.run(["systemd-machine-id-setup", f"--root={root}"], check=True, capture_output=True)
    units, generators = etc / "systemd" / "system", etc / "systemd" / "system-generators"
    subprocess.run(
        [str(BIN / "pyaoe"), "install-units", "--unit-dir", str(units), "--generator-dir", str(generators)],
        check=True,
        capture_output=True,
    )
    # install-units wrote the paths it was given; inside the container they are /etc/...
    generator = generators / "pyaoe-vblade-generator"
    generator.write_text(generator.read_text().replace(str(root), ""))
    wants = units / "multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    (wants / enabled).symlink_to(f"/etc/systemd/system/{enabled}")
    (etc / "pyaoe").mkdir()
    for name in ("disk0.img", "disk1.img", "vb.img"):
        with open(root / "srv" / name, "wb") as f:
            f.truncate(64 << 20)
    (etc / "pyaoe" / "target.toml").write_text(
        f'[defaults]\nnetif = "{netif}"\n\n[[export]]\nshelf = 7\nslot = 1\nfile = "/srv/disk0.img"\n'
        'config_string = "in a container"\n'
    )


@contextlib.contextmanager
def booted(tmp_path: Path, enabled: str) -> Iterator[tuple[Container, Lab, Link, str]]:
    """A container booted with ``enabled`` wanted by multi-user.target, and a veth pair from a
    lab namespace into it (moved in after boot)."""
    if NSPAWN is None:
        pytest.fail("systemd-nspawn is missing (Debian's systemd-container: scripts/setup.sh installs it)")
    root = tmp_path / "root"
    with Lab() as lab:
        ns = lab.netns("nsp")
        inside, here = lab.veth(None, ns, names=(unique_name("vc"), unique_name("vh")))
        _make_root(root, inside.ifname, enabled)
        binds = [f"--bind-ro={p}" for p in ("/usr", str(Path(sys.base_prefix).resolve()), str(ROOT))]
        proc = subprocess.Popen(
            [
                NSPAWN,
                "-D",
                str(root),
                *binds,
                # The initiator's FUSE tree (systemd-nspawn gives containers no /dev/fuse).
                "--bind=/dev/fuse",
                "--private-network",
                "--register=no",
                "--keep-unit",
                "-b",
                "--console=pipe",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            leader = _leader(proc)
            # nspawn wants udev's word on a host interface; move it in by hand instead.
            subprocess.run(["ip", "link", "set", inside.ifname, "netns", str(leader)], check=True)
            subprocess.run(
                ["nsenter", "-t", str(leader), "-n", "ip", "link", "set", inside.ifname, "up"], check=True
            )
            yield Container(root, proc, leader), lab, here, inside.ifname
        finally:
            if proc.poll() is None:
                proc.terminate()  # systemd-nspawn powers the container off
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)


@pytest.fixture
def container(tmp_path: Path) -> Iterator[tuple[Container, Lab, Link, str]]:
    with booted(tmp_path, "pyaoe-target.service") as box:
        yield box


def test_units_under_a_real_systemd(container: tuple[Container, Lab, Link, str]) -> None:
    box, lab, here, netif = container
    # The interface came after boot: the first start failed (no such interface), Restart= retries.
    box.wait_active("pyaoe-target.service")
    status = box.run("systemctl", "show", "pyaoe-target.service", "-p", "StatusText").stdout
    assert status.strip() == "StatusText=serving 1 exports on 1 interfaces"
    assert lab.run(here.netns, [AOEPING, "-s", "3", "7", "1", here.ifname]).returncode == 0

    config = box.root / "etc" / "pyaoe" / "target.toml"
    config.write_text(config.read_text() + '\n[[export]]\nshelf = 7\nslot = 2\nfile = "/srv/disk1.img"\n')
    reload = box.run("systemctl", "reload", "pyaoe-target.service")
    assert reload.returncode == 0, reload.stderr
    assert lab.run(here.netns, [AOEPING, "-s", "3", "7", "2", here.ifname]).returncode == 0
    listed = lab.run(here.netns, [AOECFG, "-t", "1", here.ifname]).stdout
    assert sorted(listed.splitlines()) == ["7.1\tin a container", "7.2\t"]
    ctl = box.run(str(BIN / "pyaoe"), "ctl", "list")  # the default socket, inside the container
    assert ctl.returncode == 0 and "/srv/disk1.img" in ctl.stdout, ctl.stderr

    config.write_text(config.read_text() + "oops = 1\n")
    assert box.run("systemctl", "reload", "pyaoe-target.service").returncode != 0
    assert box.run("systemctl", "is-active", "pyaoe-target.service").stdout.strip() == "active"
    journal = box.run("journalctl", "-u", "pyaoe-target.service", "--no-pager").stdout
    assert "reload refused, the running configuration is unchanged" in journal
    assert lab.run(here.netns, [AOEPING, "-s", "3", "7", "2", here.ifname]).returncode == 0

    box.run("systemctl", "stop", "pyaoe-target.service", check=True)
    shown = box.run(
        "systemctl", "show", "pyaoe-target.service", "-p", "Result", "-p", "ExecMainStatus"
    ).stdout
    assert sorted(shown.split()) == ["ExecMainStatus=0", "Result=success"]

    # A Debian vblade set-up, moved over by unit name.
    conf = box.root / "etc" / "vblade.conf.d"
    conf.mkdir()
    (conf / "demo.conf").write_text(
        f"shelf=9\nslot=4\nnetif={netif}\nfilename=/srv/vb.img\noptions='-r -b 8'\n"
    )
    box.run("systemctl", "daemon-reload", check=True)
    box.run("systemctl", "start", "pyaoe-vblade.service", check=True)
    box.wait_active("pyaoe-vblade@demo.service")
    assert lab.run(here.netns, [AOEPING, "-s", "3", "9", "4", here.ifname]).returncode == 0
    journal = box.run("journalctl", "-u", "pyaoe-vblade@demo.service", "--no-pager").stdout
    assert "e9.4, 131072 sectors O_RDONLY" in journal


def test_the_initiator_unit_under_a_real_systemd(tmp_path: Path) -> None:
    """pyaoe-initiator.service enabled at boot, /dev/fuse bound into the container: it is active
    (Type=notify: READY came) before its interface exists, finds a pyaoe target outside once the
    interface is moved in, and its tree (seen from outside the service: the mount is not private
    to it) serves the device to Debian's aoe-stat and to dd; `systemctl reload` (SIGHUP) keeps it
    running; `systemctl stop` unmounts and ends with status 0."""
    disk = tmp_path / "export.img"
    pattern = bytes(range(256)) * 16 * 256  # 1 MiB
    disk.write_bytes(pattern * 8)
    with booted(tmp_path, "pyaoe-initiator.service") as (box, lab, here, _netif):
        box.wait_active("pyaoe-initiator.service")
        args = ["--control-socket", "none", "7", "9", here.ifname, str(disk)]
        with start_target(lab, here, args, command=PYAOE_TARGET):
            deadline = time.monotonic() + 60
            while box.run("test", "-e", "/run/aoe/etherd/e7.9").returncode != 0:
                assert time.monotonic() < deadline, box.run(
                    "journalctl", "-u", "pyaoe-initiator", "--no-pager"
                ).stdout
                time.sleep(0.2)
            status = box.run("systemctl", "show", "pyaoe-initiator.service", "-p", "StatusText").stdout
            assert status.startswith("StatusText=tree at /run/aoe; discovery sent on ")
            stat = box.run("env", "sysfs_dir=/run/aoe/sys", AOE_STAT)
            assert stat.returncode == 0 and stat.stdout.split()[:2] == ["e7.9", "0.008GB"], stat
            read = box.run("sh", "-c", "dd if=/run/aoe/etherd/e7.9 bs=64k count=16 status=none | sha256sum")
            assert read.stdout.split()[0] == hashlib.sha256(pattern).hexdigest(), read
            listed = box.run(str(BIN / "pyaoe"), "ctl", "--initiator", "list")  # the default socket, inside
            assert listed.returncode == 0 and listed.stdout.splitlines()[1].split()[:2] == ["e7.9", "up"]

            assert box.run("systemctl", "reload", "pyaoe-initiator.service").returncode == 0
            journal = ""
            while "SIGHUP: no configuration file to re-read" not in journal:
                assert time.monotonic() < deadline, journal
                journal = box.run("journalctl", "-u", "pyaoe-initiator.service", "--no-pager").stdout
                time.sleep(0.2)
            assert box.run("systemctl", "is-active", "pyaoe-initiator.service").stdout.strip() == "active"

            box.run("systemctl", "stop", "pyaoe-initiator.service", check=True)
            shown = box.run(
                "systemctl", "show", "pyaoe-initiator.service", "-p", "Result", "-p", "ExecMainStatus"
            ).stdout
            assert sorted(shown.split()) == ["ExecMainStatus=0", "Result=success"]
            assert box.run("mountpoint", "-q", "/run/aoe").returncode != 0
