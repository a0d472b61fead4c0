"""`pyaoe target --config FILE` reconfigured while it serves, checked with Debian's aoeping and
aoecfg at the other end: an export added by editing the file answers after `pyaoe ctl reload` (and
after SIGHUP), a removed one stops answering, a changed one takes its new settings, an unchanged
one keeps its data and its counters, a file with a mistake changes nothing, interfaces come and
go, and --state-dir state survives."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab
from support.target_service import ServedTarget, export_table

pytestmark = [pytest.mark.netns, pytest.mark.interop]

MIB = 1 << 20


@pytest.fixture
def disks(tmp_path: Path) -> list[Path]:
    paths = []
    for i in range(3):
        path = tmp_path / f"disk{i}.img"
        path.write_bytes(bytes([i + 1]) * MIB)
        paths.append(path)
    return paths


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab


def answers(served: ServedTarget, shelf: int, slot: int) -> bool:
    """Debian's aoeping gets a Query Config answer from eSHELF.SLOT (dies of SIGALRM otherwise)."""
    result = served.aoeping(shelf, slot, seconds=2)
    if result.returncode == 0:
        return True
    assert result.returncode == -signal.SIGALRM or result.returncode == 142, result
    return False


def wait_for_log(served: ServedTarget, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = served.stderr()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged:\n{served.stderr()}")


def test_an_export_added_to_the_file_answers_after_reload(lab, tmp_path, disks):
    with ServedTarget.start(lab, tmp_path, [export_table(1, 1, disks[0])]) as served:
        assert answers(served, 1, 1)
        assert not answers(served, 1, 2)
        served.write_config(
            [export_table(1, 1, disks[0]), export_table(1, 2, disks[1], config_string="new one")]
        )
        result = served.ctl("reload")
        assert "1 added (e1.2)" in result.stdout and "1 unchanged" in result.stdout
        assert answers(served, 1, 2)
        assert served.aoecfg() == {"1.1": "", "1.2": "new one"}
        listed = {e["export"]: e for e in served.ctl_json("list")}
        assert set(listed) == {"e1.1", "e1.2"}
        assert listed["e1.2"]["file"] == str(disks[1])


def test_a_removed_export_stops_answering_and_the_others_go_on(lab, tmp_path, disks):
    tables = [export_table(1, 1, disks[0]), export_table(1, 2, disks[1])]
    with ServedTarget.start(lab, tmp_path, tables) as served:
        assert answers(served, 1, 1) and answers(served, 1, 2)
        before = served.ctl_json("stats", "e1.1")["requests"]["query_config"]
        served.write_config(tables[:1])
        assert "1 removed (e1.2)" in served.ctl("reload").stdout
        assert not answers(served, 1, 2)
        assert answers(served, 1, 1)
        # e1.1 is the same export: its counters went on from where they were.
        assert served.ctl_json("stats", "e1.1")["requests"]["query_config"] > before
        assert served.aoecfg() == {"1.1": ""}


def test_sighup_reloads_and_never_kills(lab, tmp_path, disks):
    with ServedTarget.start(lab, tmp_path, [export_table(1, 1, disks[0])]) as served:
        assert served.target is not None
        served.write_config([export_table(1, 1, disks[0]), export_table(2, 0, disks[1])])
        os.kill(served.target.pid, signal.SIGHUP)
        wait_for_log(served, "1 added (e2.0)")
        assert served.target.alive()
        assert answers(served, 2, 0)


def test_a_file_with_a_mistake_changes_nothing(lab, tmp_path, disks):
    tables = [export_table(1, 1, disks[0]), export_table(1, 2, disks[1])]
    with ServedTarget.start(lab, tmp_path, tables) as served:
        assert served.target is not None
        before = served.ctl_json("list")
        for bad, message in [
            ([tables[0], tables[1] + "readonly = 3\n"], "readonly must be true or false"),
            ([tables[0], export_table(1, 3, tmp_path / "missing.img")], "no such file or directory"),
            ([tables[0], tables[0]], "e1.1 is already export 1"),
            (["[[export]\n"], "target.toml: "),
        ]:
            served.write_config(bad)
            result = served.ctl("reload", check=False)
            assert result.returncode == 1
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("pyaoe ctl: ") and message in lines[0], lines
            assert served.ctl_json("list") == before
            wait_for_log(served, f"reload refused, the running configuration is unchanged: {lines[0][11:]}")
        # The same through SIGHUP: logged, and the target serves on as it was.
        refusals = served.stderr().count("reload refused")
        os.kill(served.target.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while served.stderr().count("reload refused") == refusals and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served.stderr().count("reload refused") == refusals + 1
        assert served.target.alive()
        assert answers(served, 1, 1) and answers(served, 1, 2)
        assert served.ctl_json("list") == before


def test_changed_settings_take_effect(lab, tmp_path, disks):
    mac = "02:00:00:00:00:99"
    with ServedTarget.start(lab, tmp_path, [export_table(1, 1, disks[0])]) as served:
        served.write_config([export_table(1, 1, disks[1], readonly=True, bufcnt=64, mask=[mac])])
        result = served.ctl("reload").stdout
        assert "e1.1: bufcnt, file, masks, readonly" in result
        listed = served.ctl_json("list")[0]
        assert listed["file"] == str(disks[1]) and listed["flags"] == ["ro"] and listed["bufcnt"] == 64
        assert listed["mask_list"] == [mac]
        # Masked to another MAC: Debian's aoeping at the initiator's end gets no answer any more.
        assert not answers(served, 1, 1)
        served.write_config([export_table(1, 1, disks[1], readonly=True, bufcnt=64)])
        assert "e1.1: masks" in served.ctl("reload").stdout
        assert answers(served, 1, 1)


def test_interfaces_come_and_go_with_the_exports(lab, tmp_path, disks):
    with ServedTarget.start(lab, tmp_path, [export_table(1, 1, disks[0])]) as served:
        there2, here2 = lab.veth(served.there.netns, served.here.netns)
        served.write_config(
            [export_table(1, 1, disks[0]), export_table(1, 2, disks[1], netif=[there2.ifname])],
        )
        served.ctl("reload")
        interfaces = set(served.ctl_json("stats")["interfaces"])
        assert interfaces == {served.there.ifname, there2.ifname}
        other = lab.run(here2.netns, ["/usr/sbin/aoeping", "-s", "2", "1", "2", here2.ifname], timeout=30)
        assert other.returncode == 0, other
        # Only the first interface is used now: the second one's socket is closed.
        served.write_config([export_table(1, 1, disks[0])])
        served.ctl("reload")
        assert set(served.ctl_json("stats")["interfaces"]) == {served.there.ifname}
        gone = lab.run(here2.netns, ["/usr/sbin/aoeping", "-s", "1", "1", "2", here2.ifname], timeout=30)
        assert gone.returncode != 0
        # A missing interface is a mistake: refused, nothing changed.
        served.write_config([export_table(1, 1, disks[0]), export_table(1, 2, disks[1], netif=["nosuchif9"])])
        result = served.ctl("reload", check=False)
        assert result.returncode == 1 and "no such interface: nosuchif9" in result.stderr
        assert [e["export"] for e in served.ctl_json("list")] == ["e1.1"]


def test_state_dir_state_survives_a_reload(lab, tmp_path, disks):
    state = tmp_path / "state"
    tables = [export_table(1, 1, disks[0])]
    with ServedTarget.start(lab, tmp_path, tables, args=["--state-dir", str(state)]) as served:
        served.ctl("config", "e1.1", "--set", "kept over reloads")
        served.write_config([*tables, export_table(1, 2, disks[1])])
        served.ctl("reload")
        assert served.aoecfg()["1.1"] == "kept over reloads"
        # A change that reopens the file keeps the live state too.
        served.write_config([export_table(1, 1, disks[0], bufcnt=32), export_table(1, 2, disks[1])])
        served.ctl("reload")
        assert served.aoecfg()["1.1"] == "kept over reloads"
    assert '"config_string": "kept over reloads"' in (state / "e1.1.json").read_text()


def test_ctl_add_and_remove_without_a_file_edit(lab, tmp_path, disks):
    with ServedTarget.start(lab, tmp_path, [export_table(1, 1, disks[0])]) as served:
        assert "e5.6 added" in served.ctl("add", "5", "6", served.there.ifname, str(disks[2]), "-r").stdout
        assert answers(served, 5, 6)
        assert served.ctl_json("list")[1]["flags"] == ["ro"]
        assert "e5.6 removed" in served.ctl("remove", "e5.6").stdout
        assert not answers(served, 5, 6)


def test_sigterm_exits_0_after_a_reload(lab, tmp_path, disks):
    served = ServedTarget.start(lab, tmp_path, [export_table(1, 1, disks[0])])
    try:
        served.write_config([export_table(1, 1, disks[0]), export_table(1, 2, disks[1])])
        served.ctl("reload")
        assert served.close() == 0
        assert not served.socket.exists(), "the control socket is removed on the way out"
    finally:
        served.close()
