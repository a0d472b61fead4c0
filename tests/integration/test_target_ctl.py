"""`pyaoe ctl` against a running target as a user types it: every verb as a table and as JSON,
counters that move with Debian's aoetools' traffic, and every mistake (no daemon, no permission,
unknown export or verb, bad value) one line and a non-zero exit. Then /metrics: promtool accepts a
live scrape, and the counters move with traffic."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab, in_netns
from support.ctl import AS_NOBODY, one_line
from support.target_service import CTL, ServedTarget, export_table, parse_metrics

pytestmark = [pytest.mark.netns, pytest.mark.interop]

MIB = 1 << 20
MAC = "02:00:00:00:00:0a"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedTarget]:
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(MIB))
    other = tmp_path / "other.img"
    other.write_bytes(bytes(2 * MIB))
    with Lab() as lab:
        with in_netns(None):
            port = _free_port()
        tables = [export_table(1, 1, disk, config_string="one"), export_table(1, 2, other, readonly=True)]
        with ServedTarget.start(lab, tmp_path, tables, args=["--metrics", f"127.0.0.1:{port}"]) as target:
            target.metrics_port = port  # type: ignore[attr-defined]
            yield target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_list_as_a_table_and_as_json(served):
    table = served.ctl("list").stdout.splitlines()
    assert table[0].split() == ["export", "interfaces", "file", "size", "flags", "bufcnt", "config", "string"]
    assert table[1].split()[0] == "e1.1" and table[1].split()[-1] == "one"
    assert table[2].split()[4] == "ro"
    data = served.ctl_json("list")
    assert [e["export"] for e in data] == ["e1.1", "e1.2"]
    assert data[1]["sectors"] == 4096 and data[1]["flags"] == ["ro"]


def test_stats_move_with_debian_aoetools_traffic(served):
    assert served.aoeping(1, 1).returncode == 0
    lab = served.lab
    done = lab.run(served.here.netns, ["/usr/sbin/aoeping", "-s", "3", "-i", "1", "1", served.here.ifname])
    assert done.returncode == 0, done
    stats = served.ctl_json("stats", "e1.1")
    assert stats["requests"]["query_config"] >= 2
    assert stats["requests"]["identify"] == 1
    assert stats["errors"] == {"aoe": 0, "ata": 0, "io": 0, "dropped": 0, "failure": 0}
    interface = stats["interfaces"][served.there.ifname]
    assert interface["frames_in"] >= 3 and interface["frames_out"] >= 3
    assert (
        interface["latency_p50_us"] is not None and interface["latency_p99_us"] >= interface["latency_p50_us"]
    )
    whole = served.ctl("stats").stdout
    assert "exports:" in whole and "interfaces (latency: batch received to replies sent):" in whole


def test_config_mask_and_reserve_lists_are_edited_locally(served):
    assert served.ctl("config", "e1.1").stdout.strip() == "one"
    assert served.ctl("config", "e1.1", "--set", "rack 7").stdout.strip() == "rack 7"
    assert served.aoecfg()["1.1"] == "rack 7"
    assert served.ctl("config", "e1.1", "--clear").stdout.strip() == ""
    assert served.ctl_json("mask", "e1.2", "--add", MAC)["mask_list"] == [MAC]
    assert served.aoeping(1, 2).returncode != 0  # masked: Debian's aoeping is not answered
    assert served.ctl_json("mask", "e1.2", "--delete", MAC)["mask_list"] == []
    assert served.aoeping(1, 2).returncode == 0
    assert served.ctl_json("reserve", "e1.1", "--set", MAC)["reserve_list"] == [MAC]
    assert served.ctl_json("reserve", "e1.1", "--clear")["reserve_list"] == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("stats", "e9.9"), "e9.9: no such export"),
        (("stats", "nonsense"), "'nonsense' is not an export name"),
        (("remove", "e1.7"), "e1.7: no such export"),
        (("config", "e1.1", "--set", "x", "--clear"), "give --set or --clear, not both"),
        (("mask", "e1.1", "--add", "zz"), "--add: 'zz' is not a MAC address"),
        (("mask", "e1.1", "--add", ",".join(f"02:00:00:00:01:{i:02x}" for i in range(33))), "at most 32"),
        (("add", "1", "1", "lo", "/nonexistent"), "e1.1 is already served"),
        (("add", "1", "3", "lo", "/nonexistent"), "cannot open /nonexistent: no such file or directory"),
        (("add", "70000", "3", "lo", "/nonexistent"), "shelf 70000 is out of range"),
        (("reload", "extra"), "unrecognized arguments: extra"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)
def test_each_mistake_is_one_line(served, args, expected):
    one_line(served.ctl(*args, check=False), expected)


def test_reload_without_a_file_is_refused(tmp_path):
    """A target started from the command line has nothing to reload."""
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(MIB))
    sock = tmp_path / "t.sock"
    from support.target import PYAOE_TARGET, start_target

    with Lab() as lab:
        ns = lab.netns("ctl")
        here, there = lab.veth(None, ns)
        args = ["--control-socket", str(sock), "1", "1", there.ifname, str(disk)]
        with start_target(lab, there, args, listen=here, command=PYAOE_TARGET):
            result = subprocess.run([*CTL, "--socket", str(sock), "reload"], capture_output=True, text=True)
            one_line(result, "started without --config")


def test_no_daemon_is_one_line(tmp_path):
    one_line(
        subprocess.run(
            [*CTL, "--socket", str(tmp_path / "none.sock"), "list"], capture_output=True, text=True
        ),
        "no daemon listens on",
    )
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()
    one_line(
        subprocess.run([*CTL, "--socket", str(stale), "list"], capture_output=True, text=True),
        "a stale socket",
    )


def test_only_root_may_use_the_socket(served):
    """The socket is root's, mode 0600: anyone else is refused before a word is read."""
    assert oct(served.socket.stat().st_mode & 0o777) == "0o600"
    served.socket.parent.chmod(0o755)
    result = subprocess.run(
        [
            *AS_NOBODY,
            *CTL,
            "--socket",
            str(served.socket),
            "list",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    one_line(result, "permission denied")


def test_a_second_target_cannot_take_a_socket_in_use(served, tmp_path):
    disk = tmp_path / "third.img"
    disk.write_bytes(bytes(MIB))
    result = served.lab.run(
        served.there.netns,
        [
            *CTL[:3],
            "target",
            "--control-socket",
            str(served.socket),
            "3",
            "3",
            served.there.ifname,
            str(disk),
        ],
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"pyaoe target: control socket {served.socket}: another daemon answers on it"
    )
    assert served.ctl("list").returncode == 0


def scrape(served: ServedTarget) -> str:
    url = f"http://127.0.0.1:{served.metrics_port}/metrics"
    with in_netns(served.there.netns), urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_metrics_pass_promtool_and_move_with_traffic(served, tmp_path):
    before = parse_metrics(scrape(served))
    assert served.aoeping(1, 1).returncode == 0
    assert (
        served.lab.run(
            served.here.netns, ["/usr/sbin/aoeping", "-s", "3", "-i", "1", "1", served.here.ifname]
        ).returncode
        == 0
    )
    text = scrape(served)
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    after = parse_metrics(text)
    key = 'pyaoe_target_requests_total{kind="identify",shelf="1",slot="1"}'
    assert before[key] == 0 and after[key] == 1
    frames = f'pyaoe_target_frames_received_total{{interface="{served.there.ifname}"}}'
    assert after[frames] >= before[frames] + 3
    assert after['pyaoe_target_export_readonly{shelf="1",slot="2"}'] == 1
    assert after['pyaoe_target_export_size_bytes{shelf="1",slot="2"}'] == 2 * MIB
    assert after['pyaoe_target_errors_total{kind="failure",shelf="1",slot="1"}'] == 0
    count = f'pyaoe_target_service_seconds_count{{interface="{served.there.ifname}"}}'
    assert after[count] >= 3
    # A reload shows up too, and a refused one is counted apart.
    served.write_config([export_table(1, 1, tmp_path / "disk.img")])
    served.ctl("reload")
    served.write_config(["[[export]\n"])
    served.ctl("reload", check=False)
    final = parse_metrics(scrape(served))
    assert final['pyaoe_target_reloads_total{result="ok"}'] == 1
    assert final['pyaoe_target_reloads_total{result="refused"}'] == 1
    assert final["pyaoe_target_exports"] == 1
