"""`pyaoe ctl --initiator` against a running `pyaoe initiator` as a user types it: every verb as a
table and as JSON, counters that move with reads through the tree, discover, revalidate and flush
doing what aoe-discover, aoe-revalidate and aoe-flush do, and every mistake (no daemon, no
permission, an unknown device, a bad name) one line and a non-zero exit. Then /metrics: promtool
accepts a live scrape, and the counters move with traffic."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyaoe.initiator import InitiatorConfig
from pyaoe.lab.netns import Lab, Link
from pyaoe.protocol import format_mac
from support.ctl import AS_NOBODY, one_line
from support.initiator_daemon import CTL, RunningDaemon, announcements_dropped, device_up, running_initiator
from support.target import VBLADE, RunningTarget, start_target
from support.target_service import parse_metrics
from support.wait import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.interop]

MiB = 1 << 20
SIZE = 8 * MiB


@dataclass
class Rig:
    lab: Lab
    here: Link
    there: Link
    disk: Path
    target: RunningTarget
    daemon: RunningDaemon
    metrics_port: int

    @property
    def device(self) -> Path:
        return self.daemon.etherd / "e1.2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    disk = tmp_path_factory.mktemp("ctl") / "disk.img"
    disk.write_bytes(os.urandom(SIZE))
    port = _free_port()
    with Lab() as lab:
        ns = lab.netns("ictl")
        here, there = lab.veth(None, ns)
        args = ["1", "2", there.ifname, str(disk)]
        with (
            start_target(lab, there, args, listen=here, command=VBLADE) as target,
            running_initiator(lab, here.ifname, "--metrics", f"127.0.0.1:{port}") as daemon,
        ):
            device_up(daemon)
            yield Rig(lab, here, there, disk, target, daemon, port)


def test_list_as_a_table_and_as_json(rig: Rig) -> None:
    lines = rig.daemon.ctl("list").stdout.splitlines()
    assert lines[0].split() == ["device", "state", "size", "payload", "open", "paths", "(target@interfaces)"]
    target = format_mac(rig.there.mac)
    assert lines[1].split() == ["e1.2", "up", "0.008GB", "1,024", "0", f"{target}@{rig.here.ifname}"]
    (device,) = rig.daemon.ctl_json("list")
    assert device["sectors"] == SIZE // 512 and device["bytes"] == SIZE and device["state"] == "up"
    assert device["paths"] == [{"target": target, "interfaces": [rig.here.ifname]}]


def test_stats_move_with_reads_through_the_tree(rig: Rig) -> None:
    before = rig.daemon.ctl_json("stats")
    with rig.device.open("rb") as f:
        assert f.read(MiB) == rig.disk.read_bytes()[:MiB]
    after = rig.daemon.ctl_json("stats")
    (device,) = after["devices"]
    (was,) = before["devices"]
    assert device["frames_sent"] - was["frames_sent"] >= MiB // device["payload"]
    assert device["errors"] == {"aoe": 0, "ata": 0, "down": 0} and device["retransmits"] == 0
    (path,) = device["paths"]
    assert path["target"] == format_mac(rig.there.mac) and path["interfaces"] == [rig.here.ifname]
    assert path["rtt"] is not None and 0 < path["rtt"] <= path["rto"]
    assert 1 <= path["window"] <= path["window_limit"] and path["in_flight"] == 0
    interface = after["interfaces"][rig.here.ifname]
    moved = interface["bytes_received"] - before["interfaces"][rig.here.ifname]["bytes_received"]
    assert interface["in_use"] and moved >= MiB
    assert after["initiator"]["requests_in_flight"] == 0
    one = rig.daemon.ctl_json("stats", "e1.2")
    assert (one["device"], one["bytes"], len(one["paths"])) == ("e1.2", SIZE, 1)
    detail = rig.daemon.ctl("stats", "e1.2").stdout
    assert detail.splitlines()[0].split() == ["counter", "e1.2"] and "paths (rtt:" in detail
    whole = rig.daemon.ctl("stats").stdout
    for title in ("devices:", "paths (rtt:", "interfaces:", "initiator:"):
        assert title in whole


def scrape(rig: Rig) -> str:
    url = f"http://127.0.0.1:{rig.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_metrics_pass_promtool_and_move_with_traffic(rig: Rig) -> None:
    before = parse_metrics(scrape(rig))
    with rig.device.open("rb") as f:
        f.read(2 * MiB)
    text = scrape(rig)
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    after = parse_metrics(text)
    device = 'shelf="1",slot="2"'
    interface = f'interface="{rig.here.ifname}"'
    path = f'shelf="1",slot="2",target="{format_mac(rig.there.mac)}"'
    for name in (
        f"pyaoe_initiator_device_frames_sent_total{{{device}}}",
        f"pyaoe_initiator_path_frames_sent_total{{{path}}}",
        f"pyaoe_initiator_frames_received_total{{{interface}}}",
        f"pyaoe_initiator_frames_sent_total{{{interface}}}",
    ):
        assert after[name] >= before[name] + 2 * MiB // 1024, name
    received = f"pyaoe_initiator_received_bytes_total{{{interface}}}"
    assert after[received] >= before[received] + 2 * MiB
    assert after[f"pyaoe_initiator_device_up{{{device}}}"] == 1
    assert after[f"pyaoe_initiator_device_size_bytes{{{device}}}"] == SIZE
    assert (
        0
        < after[f"pyaoe_initiator_path_rtt_seconds{{{path}}}"]
        <= after[f"pyaoe_initiator_path_rto_seconds{{{path}}}"]
    )
    assert after[f"pyaoe_initiator_path_window_frames{{{path}}}"] >= 1
    assert after[f"pyaoe_initiator_path_interface{{{interface},{path}}}"] == 1
    assert after[f'pyaoe_initiator_device_errors_total{{kind="down",{device}}}'] == 0
    assert after["pyaoe_initiator_requests_in_flight"] == 0 and after["pyaoe_initiator_devices"] == 1


def test_revalidate_rereads_the_partitions(rig: Rig) -> None:
    table = "label: dos\nx1 : start=2048,size=4096,type=83\n"
    subprocess.run(["sfdisk", "-q", "--no-reread", str(rig.device)], input=table, text=True, check=True)
    assert not (rig.daemon.etherd / "e1.2p1").exists()
    assert rig.daemon.ctl("revalidate", "e1.2").stdout == "e1.2: revalidating\n"
    wait_until((rig.daemon.etherd / "e1.2p1").exists, 15, "e1.2p1 after revalidate")
    assert os.stat(rig.daemon.etherd / "e1.2p1").st_size == 4096 * 512


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("stats", "e9.9"), "e9.9: no such AoE device"),
        (("stats", "nonsense"), "'nonsense' is not an AoE device name (expected eX.Y)"),
        (("revalidate", "e9.9"), "e9.9: no such AoE device"),
        (("revalidate",), "the following arguments are required: eX.Y"),
        (("flush", "e9.9"), "e9.9: no such AoE device"),
        (("flush", "-a", "e1.2"), "give -a or device names, not both"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)
def test_each_mistake_is_one_line(rig: Rig, args: tuple[str, ...], expected: str) -> None:
    one_line(rig.daemon.ctl(*args, check=False), expected)


def test_only_root_may_use_the_socket(rig: Rig) -> None:
    socket_path = rig.daemon.socket
    assert socket_path is not None and oct(socket_path.stat().st_mode & 0o777) == "0o600"
    socket_path.parent.chmod(0o755)
    result = subprocess.run(
        [
            *AS_NOBODY,
            *CTL,
            "--socket",
            str(socket_path),
            "list",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    one_line(result, "permission denied")


def test_no_daemon_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CTL, "--socket", str(tmp_path / "none.sock"), "list"], capture_output=True, text=True
    )
    one_line(result, "no daemon listens on")


def test_flush_forgets_what_aoe_flush_would(rig: Rig) -> None:
    """Last in this module: it empties the tree."""
    held = os.open(rig.device, os.O_RDONLY)
    try:
        one_line(rig.daemon.ctl("flush", "e1.2", check=False), "e1.2: open (in use), not flushed")
        assert rig.daemon.ctl("flush", "-a").stdout == "flushed nothing\n"  # only unused ones
    finally:
        os.close(held)
    assert rig.daemon.ctl("flush").stdout == "flushed nothing\n"  # only down ones
    assert rig.daemon.ctl_json("flush", "-a") == {"flushed": ["e1.2"]}
    wait_until(lambda: not rig.device.exists(), 10, "e1.2 gone from the tree")
    assert rig.daemon.ctl_json("list") == []


def test_discover_finds_a_target_started_after_the_daemon(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    with disk.open("wb") as f:
        f.truncate(SIZE)
    with Lab() as lab:
        ns = lab.netns("ictl")
        here, there = lab.veth(None, ns)
        with (
            announcements_dropped(here.ifname) as (dropped, discoveries),
            running_initiator(lab, here.ifname) as daemon,
        ):
            starts = 1 + len(InitiatorConfig().discover_again)
            wait_until(lambda: discoveries() >= starts, 10, "the start-up discoveries")
            with start_target(lab, there, ["3", "4", there.ifname, str(disk)]):
                wait_until(lambda: dropped() >= 1, 10, "the announcement")
                assert not (daemon.etherd / "e3.4").exists()
                assert daemon.ctl("discover").stdout == f"discovery sent on {here.ifname}\n"
                wait_until((daemon.etherd / "e3.4").exists, 10, "e3.4 after pyaoe ctl discover")
                assert discoveries() == starts + 1
