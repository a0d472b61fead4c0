"""vblade's -m (the initiators allowed) and its numbers, against Debian's vblade 25 on the same
veth: what vblade 25 accepts with a warning or misreads, pyaoe refuses with one line (the README
lists each); what pyaoe accepts, --state-dir keeps across a restart (issue 9: more than 32 MACs
used to be taken, then the saved state refused them and was thrown away whole).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab, Link
from support.target import PYAOE_TARGET, VBLADE, start_target

pytestmark = pytest.mark.netns

DEBIAN_VBLADE = ("/usr/sbin/vblade",)
DEBIAN_AOECFG = "/usr/sbin/aoecfg"
MASKS = 32  # a mask list's room: vblade 25's Nmasks, and what the AoE mask command can fill


def others(n: int) -> list[str]:
    """``n`` made-up initiator MACs (locally administered, none on the test link)."""
    return [f"02:00:00:aa:{i // 256:02x}:{i % 256:02x}" for i in range(n)]


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("masks") / "disk.img"
    path.write_bytes(bytes(1 << 20))  # 2048 sectors
    return path


def refused(lab: Lab, there: Link, command: tuple[str, ...], *args: str) -> str:
    """Run a target that must refuse its arguments; its one stderr line."""
    result = lab.run(there.netns, [*command, *args], timeout=30)
    assert (result.returncode, result.stdout) == (1, ""), result
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("masks", "warning"),
    [
        ("zz", "ignoring mask zz, parseether failure\n"),
        ("", "ignoring mask , parseether failure\n"),
        ("02:00:00:00:00:01,", "ignoring mask , parseether failure\n"),
    ],
)
def test_a_malformed_mac_is_refused_where_vblade_warns(link, disk, masks: str, warning: str) -> None:
    """vblade 25 warns and serves on; with no good MAC left, to every initiator."""
    lab, here, there = link
    args = ["-m", masks, "1", "2", there.ifname, str(disk)]
    with start_target(lab, there, args, listen=here, command=DEBIAN_VBLADE) as theirs:
        assert theirs.stderr() == warning
    bad = masks.split(",")[-1]
    assert refused(lab, there, VBLADE, *args) == f"vblade: -m: {bad!r} is not a MAC address\n"


def test_more_macs_than_a_mask_list_holds_are_refused(link, disk) -> None:
    lab, here, there = link
    args = ["-m", ",".join(others(MASKS + 1)), "1", "2", there.ifname, str(disk)]
    with start_target(lab, there, args, listen=here, command=DEBIAN_VBLADE) as theirs:
        assert theirs.alive()  # vblade 25 writes the 33rd past the end of its table
    line = f"-m: {MASKS + 1} MAC addresses, more than the {MASKS} a mask list holds\n"
    assert refused(lab, there, VBLADE, *args) == f"vblade: {line}"
    assert refused(lab, there, PYAOE_TARGET, *args) == f"pyaoe target: {line}"
    # The same MAC twice counts once, as the mask list keeps it once.
    twice = ",".join([*others(MASKS), others(1)[0]])
    with start_target(lab, there, ["-m", twice, "1", "2", there.ifname, str(disk)], listen=here) as ours:
        assert ours.alive()


def aoecfg(here: Link, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DEBIAN_AOECFG, "-t", "2", *args, here.ifname], capture_output=True, text=True, timeout=30
    )


def test_a_full_mask_list_survives_a_restart_with_the_state(link, disk, tmp_path: Path) -> None:
    """32 MACs on the command line, a config string set over the wire: after a restart without
    -m both are still there (the state file was not refused)."""
    lab, here, there = link
    state = tmp_path / "state"
    allowed = [*others(MASKS - 1), here.mac.hex(":")]
    serve = [there.ifname, str(disk)]
    with start_target(
        lab, there, ["--state-dir", str(state), "-m", ",".join(allowed), "1", "2", *serve],
        listen=here, command=PYAOE_TARGET,
    ):  # fmt: skip
        assert aoecfg(here, "-c", "set", "-s", "rack 3", "1", "2").stdout == "rack 3\n"
    saved = json.loads((state / "e1.2.json").read_text())
    assert saved["mask_list"] == allowed
    with start_target(
        lab, there, ["--state-dir", str(state), "1", "2", *serve], listen=here, command=PYAOE_TARGET
    ) as again:
        assert aoecfg(here, "-c", "read", "1", "2").stdout == "rack 3\n"
        assert "ignoring" not in again.stderr()
    assert json.loads((state / "e1.2.json").read_text())["mask_list"] == allowed


@pytest.mark.parametrize(
    ("option", "debian_sectors"),
    [("-o", 2040), ("-l", 8)],  # vblade 25 reads 010 as octal 8 here (strtoll, base 0)
)
def test_a_number_with_a_leading_zero_is_refused(link, disk, option: str, debian_sectors: int) -> None:
    lab, here, there = link
    args = [option, "010", "1", "2", there.ifname, str(disk)]
    with start_target(lab, there, args, listen=here, command=DEBIAN_VBLADE) as theirs:
        assert f", {debian_sectors} sectors " in theirs.lines[0]
    what = "offset (-o)" if option == "-o" else "length (-l)"
    assert refused(lab, there, VBLADE, *args) == (
        f"vblade: {what} '010' has a leading zero (octal or decimal?): write it without one\n"
    )


@pytest.mark.parametrize(
    ("args", "debian_serves", "line"),
    [
        (["abc", "2"], "e0.2", "shelf must be a number, not 'abc'"),
        (["1x", "2"], "e1.2", "shelf must be a number, not '1x'"),
        (["70000", "2"], "e70000.2", "shelf 70000 is out of range (0-65534)"),
        (["65535", "2"], "e65535.2", "shelf 65535 is out of range (0-65534)"),
        (["1", "255"], "e1.255", "slot 255 is out of range (0-254)"),
        (["1", "300"], "e1.300", "slot 300 is out of range (0-254)"),
        (["-b", "16x", "1", "2"], "e1.2", "buffer count (-b) must be a number, not '16x'"),
        (["-b", "100000", "1", "2"], "e1.2", "buffer count (-b) 100000 is out of range (1-65535)"),
        (["-o", "12abc", "1", "2"], "e1.2, 2036 sectors", "offset (-o) must be a number, not '12abc'"),
        (["-l", "5x", "1", "2"], "e1.2, 5 sectors", "length (-l) must be a number, not '5x'"),
    ],
)
def test_what_vblade_misreads_is_refused(link, disk, args: list[str], debian_serves: str, line: str) -> None:
    """vblade 25 reads these with atoi or strtoll, which stop at the first character they cannot
    use and wrap what does not fit; it serves on. pyaoe refuses each with one line."""
    lab, _here, there = link
    argv = [*args, there.ifname, str(disk)]
    # Not waiting for its announcement: what it sends on the wire is the wrapped address.
    with start_target(lab, there, argv, command=DEBIAN_VBLADE) as theirs:
        assert f": {debian_serves}" in theirs.lines[0]
    assert refused(lab, there, VBLADE, *argv) == f"vblade: {line}\n"
