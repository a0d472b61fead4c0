"""`pyaoe initiator` as a daemon: SIGTERM and SIGINT let a write in flight finish (its frames held
back by nftables until after the signal), unmount and exit 0, refusing new requests meanwhile;
SIGHUP never stops it; --pidfile holds its pid while it runs; a control socket another initiator
holds, a pidfile that cannot be written or a bad --metrics is one line, and nothing stays mounted."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.initiator_daemon import (
    PYAOE_INITIATOR,
    Net,
    device_up,
    net_with_target,
    running_initiator,
    unique_root,
)
from support.wait import wait_until

pytestmark = [pytest.mark.netns]

MiB = 1 << 20


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    with net_with_target("pyaoe", tmp_path) as n:
        yield n


def hold_requests(net: Net) -> None:
    """Drop every AoE frame reaching the target: requests stay in flight, retransmitted."""
    ifname = net.there.ifname
    rules = (
        f'table netdev hold {{\n  chain in {{ type filter hook ingress device "{ifname}" priority 0;\n'
        "    ether type 0x88a2 counter drop; }\n}\n"
    )
    net.lab.run(net.ns, ["nft", "-f", "-"], input=rules, check=True)


def release_requests(net: Net) -> None:
    net.lab.run(net.ns, ["nft", "delete", "table", "netdev", "hold"], check=True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_lets_the_write_in_flight_finish(net: Net, tmp_path: Path, signum: int) -> None:
    data = tmp_path / "data"
    data.write_bytes(os.urandom(64 * 1024))
    with running_initiator(net.lab, net.here.ifname, "--deadsecs", "60") as daemon:
        device = device_up(daemon)
        hold_requests(net)
        writer = subprocess.Popen(
            ["dd", f"if={data}", f"of={device}", "bs=64k", "count=1", "conv=notrunc", "status=none"]
        )
        try:
            wait_until(
                lambda: daemon.ctl_json("stats")["initiator"]["requests_in_flight"] == 1,
                15,
                "the write in flight",
            )
            daemon.proc.send_signal(signum)
            name = signal.Signals(signum).name
            wait_until(
                lambda: f"{name}: finishing the requests in flight" in daemon.stderr(), 15, "the drain"
            )
            assert daemon.proc.poll() is None and writer.poll() is None
            # A new request is refused at once while the one in flight goes on.
            fd = os.open(device, os.O_RDONLY)
            try:
                with pytest.raises(OSError) as refused:
                    os.pread(fd, 4096, 0)
                assert refused.value.errno == errno.EIO
            finally:
                os.close(fd)
            release_requests(net)
            assert writer.wait(30) == 0
            assert daemon.proc.wait(30) == 0
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
        assert not os.path.ismount(daemon.root)
        assert net.disk.read_bytes()[: 64 * 1024] == data.read_bytes()
        log = daemon.stderr()
        assert "no request in flight (waited" in log and f"stopped by {name}" in log


def test_sighup_never_stops_it(net: Net) -> None:
    with running_initiator(net.lab, net.here.ifname) as daemon:
        device = device_up(daemon)
        said = f"rescanned the interfaces (in use: {net.here.ifname}) and sent a discovery"
        for times in (1, 2):
            daemon.proc.send_signal(signal.SIGHUP)
            wait_until(lambda n=times: daemon.stderr().count(said) == n, 15, f"SIGHUP line {times}")
        assert daemon.proc.poll() is None and os.path.ismount(daemon.root)
        assert "SIGHUP: no configuration file to re-read" in daemon.stderr()
        with device.open("rb") as f:
            assert f.read(4096) == bytes(4096)
        assert daemon.stop() == 0


def test_pidfile_holds_the_pid_while_it_runs(net: Net, tmp_path: Path) -> None:
    pidfile = tmp_path / "initiator.pid"
    with running_initiator(net.lab, net.here.ifname, "--pidfile", str(pidfile)) as daemon:
        wait_until(pidfile.exists, 15, "the pidfile")
        assert pidfile.read_text() == f"{daemon.proc.pid}\n"
        assert daemon.stop() == 0
    assert not pidfile.exists()


def run_initiator(*args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    root = unique_root("aoe-dmn")
    result = subprocess.run(
        [*PYAOE_INITIATOR, "--root", str(root), "--iflist", "lo", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, root


def test_start_up_mistakes_are_one_line_and_leave_nothing_mounted(net: Net, tmp_path: Path) -> None:
    with running_initiator(net.lab, net.here.ifname) as daemon:
        taken = daemon.socket
        cases = {
            ("--control-socket", str(taken)): f"control socket {taken}: another daemon answers on it",
            ("--control-socket", "none", "--pidfile", str(tmp_path / "no" / "x.pid")): (
                f"cannot write pidfile {tmp_path / 'no' / 'x.pid'}: No such file or directory"
            ),
            ("--control-socket", "none", "--metrics", "soon"): "--metrics port must be a number, not 'soon'",
        }
        for args, message in cases.items():
            result, root = run_initiator(*args)
            assert (result.returncode, result.stderr) == (1, f"pyaoe initiator: {message}\n"), args
            assert not os.path.ismount(root) and not root.exists()
        assert daemon.ctl("list").returncode == 0  # the first one serves on
