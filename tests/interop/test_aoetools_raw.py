"""pyaoe's aoeping, aoecfg and aoe-sancheck against Debian's (aoetools 36), both talking to
Debian's vblade across a veth pair: same output, same exit codes, same timeouts; and ours
still works where vblade's short replies make Debian's tools wait forever."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab, Link

pytestmark = [pytest.mark.interop, pytest.mark.netns]

VBLADE = "/usr/sbin/vblade"
DEBIAN = {
    "aoeping": "/usr/sbin/aoeping",
    "aoecfg": "/usr/sbin/aoecfg",
    "aoe-sancheck": "/usr/sbin/aoe-sancheck",
}
OURS = {
    "aoeping": "pyaoe.cli.aoeping",
    "aoecfg": "pyaoe.cli.aoecfg",
    "aoe-sancheck": "pyaoe.cli.aoe_sancheck",
}
# Long enough (>= 28 bytes) that vblade's config reply reaches 60 bytes and Debian's tools see it.
CONFIG = "pyaoe interop test config string"
OTHER = "another config string, also 28+ bytes"
SIGALRM_DEATH = -14


@dataclass
class Run:
    rc: int
    out: str
    err: str
    seconds: float


@dataclass
class San:
    lab: Lab
    initiator_ns: str
    netif: str
    target_mac: str

    def _run(self, argv: list[str], stdin: str | None = None) -> Run:
        start = time.monotonic()
        proc = self.lab.run(self.initiator_ns, argv, timeout=60, input=stdin)
        return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)

    def debian(self, tool: str, *args: str) -> Run:
        return self._run([DEBIAN[tool], *args])

    def ours(self, tool: str, *args: str) -> Run:
        return self._run([sys.executable, "-m", OURS[tool], *args])


def start_vblade(lab: Lab, link: Link, shelf: int, slot: int, backing: Path) -> None:
    backing.write_bytes(bytes(1 << 20))
    lab.popen(
        link.netns,
        [VBLADE, str(shelf), str(slot), link.ifname, str(backing)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_target(san: San, shelf: int, slot: int) -> None:
    """Poll with our aoecfg (it hears vblade's short replies too) until the target answers."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if san.ours("aoecfg", "-t", "1", str(shelf), str(slot), san.netif).out:
            return
    raise AssertionError(f"vblade e{shelf}.{slot} never answered")


@pytest.fixture(scope="module")
def san(tmp_path_factory: pytest.TempPathFactory) -> Iterator[San]:
    tmp = tmp_path_factory.mktemp("aoetools")
    with Lab() as lab:
        ns_t, ns_i = lab.netns("aotgt"), lab.netns("aoini")
        target, initiator = lab.veth(ns_t, ns_i)
        # e1.2 gets a long config string; e7.7 keeps an empty one (32-byte replies).
        start_vblade(lab, target, 1, 2, tmp / "e1.2")
        start_vblade(lab, target, 7, 7, tmp / "e7.7")
        result = San(lab, ns_i, initiator.ifname, target.mac.hex())
        wait_for_target(result, 1, 2)
        wait_for_target(result, 7, 7)
        setup = result.debian("aoecfg", "-c", "set", "-s", CONFIG, "-t", "5", "1", "2", initiator.ifname)
        assert (setup.rc, setup.out) == (0, CONFIG + "\n")
        yield result


def same(ours: Run, debian: Run) -> None:
    assert (ours.rc, ours.out, ours.err) == (debian.rc, debian.out, debian.err)


# aoeping


def test_aoeping_quiet_ping(san):
    ours, debian = (
        san.ours("aoeping", "-s", "5", "1", "2", san.netif),
        san.debian("aoeping", "-s", "5", "1", "2", san.netif),
    )
    same(ours, debian)
    assert ours.rc == 0 and ours.out == ""


def test_aoeping_verbose(san):
    args = ("-v", "-t", "4660", "-s", "5", "1", "2", san.netif)
    ours, debian = san.ours("aoeping", *args), san.debian("aoeping", *args)
    same(ours, debian)
    assert ours.out.startswith(
        f"tag: 80001234\neth: {san.netif}\nshelf: 1\nslot: 2\nconfig query response:\n"
    )
    assert f"found e1.2 with mac {san.target_mac}\n" in ours.out
    # The reply carries the config string: "pyaoe int" starts the third line of the dump.
    assert "70 79 61 6f 65 20 69 6e 74" in ours.out


def test_aoeping_identify_fields(san):
    args = ("-v", "-I", "-t", "99", "-s", "5", "1", "2", san.netif)
    ours, debian = san.ours("aoeping", *args), san.debian("aoeping", *args)
    same(ours, debian)
    assert "device identify fields:\n" in ours.out
    assert "\nmodel: Coraid EtherDrive vblade" in ours.out
    assert "\nfirmware_rev: V25" in ours.out


def test_aoeping_identify_hex(san):
    args = ("-i", "-s", "5", "1", "2", san.netif)
    ours, debian = san.ours("aoeping", *args), san.debian("aoeping", *args)
    same(ours, debian)
    lines = ours.out.splitlines()
    assert lines[0] == "device identify response:" and len(lines) == 33
    assert all(len(line.split()) == 16 for line in lines[1:])


def test_aoeping_smart_unsupported_by_vblade(san):
    args = ("-S", "return_status", "-s", "5", "1", "2", san.netif)
    ours, debian = san.ours("aoeping", *args), san.debian("aoeping", *args)
    same(ours, debian)
    assert ours.rc == 1 and ours.err == "Error: e1.2 does not support SMART\n"


def test_aoeping_timeout_dies_of_sigalrm(san):
    args = ("-v", "-s", "1", "9", "9", san.netif)
    ours, debian = san.ours("aoeping", *args), san.debian("aoeping", *args)
    same(ours, debian)
    assert ours.rc == SIGALRM_DEATH
    assert ours.out == f"tag: 80000000\neth: {san.netif}\nshelf: 9\nslot: 9\n"
    for run in (ours, debian):
        assert run.seconds >= 0.9  # waited its timeout (-s 1 / -t 1) before giving up


def test_aoeping_works_with_short_replies_where_debian_times_out(san):
    debian = san.debian("aoeping", "-s", "2", "7", "7", san.netif)
    assert debian.rc == SIGALRM_DEATH
    ours = san.ours("aoeping", "-v", "-I", "-s", "2", "7", "7", san.netif)
    assert ours.rc == 0, ours.err
    assert f"found e7.7 with mac {san.target_mac}\n" in ours.out
    assert "\nmodel: Coraid EtherDrive vblade" in ours.out
    # The whole 32-byte reply is dumped: two lines of 16 bytes, the last ending "00 00" (length 0).
    dump = ours.out.split("config query response:\n")[1].split("\n\nfound")[0]
    assert dump.splitlines()[1].endswith("02 10 00 00 ")


# aoecfg


def cfg_both(san: San, *args: str) -> tuple[Run, Run]:
    return san.ours("aoecfg", *args), san.debian("aoecfg", *args)


def test_aoecfg_read_one_target(san):
    ours, debian = cfg_both(san, "1", "2", san.netif)
    same(ours, debian)
    assert ours.out == CONFIG + "\n" and ours.rc == 0


def test_aoecfg_read_broadcast_lists_until_timeout(san):
    ours, debian = cfg_both(san, "-t", "1", san.netif)
    assert ours.rc == debian.rc == 0
    # Debian's misses e7.7, whose 32-byte reply is under the Ethernet minimum.
    assert debian.out == f"1.2\t{CONFIG}\n"
    assert sorted(ours.out.splitlines()) == [f"1.2\t{CONFIG}", "7.7\t"]
    for run in (ours, debian):
        assert run.seconds >= 0.9  # waited its timeout (-s 1 / -t 1) before giving up


def test_aoecfg_hex_and_octal_addresses(san):
    ours, debian = cfg_both(san, "-t", "2", "0x1", "02", san.netif)
    same(ours, debian)
    assert ours.out == CONFIG + "\n"


def test_aoecfg_test_and_prefix(san):
    for args, answer in [
        (("-c", "test", "-s", CONFIG), CONFIG + "\n"),
        (("-c", "test", "-s", CONFIG[:-1]), ""),
        (("-c", "prefix", "-s", CONFIG[:10]), CONFIG + "\n"),
        (("-c", "prefix", "-s", "not a prefix"), ""),
    ]:
        ours, debian = cfg_both(san, *args, "-t", "1", "1", "2", san.netif)
        same(ours, debian)
        assert (ours.rc, ours.out) == (0, answer), args


def test_aoecfg_set_when_present_is_badcfg(san):
    ours, debian = cfg_both(san, "-c", "set", "-s", OTHER, "-t", "2", "1", "2", san.netif)
    same(ours, debian)
    assert (ours.rc, ours.out) == (0, "*badcfg*\n")
    broadcast, debian_broadcast = cfg_both(san, "-c", "set", "-s", OTHER, "-t", "1", "0xffff", "2", san.netif)
    same(broadcast, debian_broadcast)
    assert broadcast.out == "1.2\t*badcfg*\n"


def test_aoecfg_fset_replaces_the_string(san):
    try:
        ours = san.ours("aoecfg", "-c", "fset", "-s", OTHER, "-t", "2", "1", "2", san.netif)
        assert (ours.rc, ours.out) == (0, OTHER + "\n")
        assert san.debian("aoecfg", "-t", "2", "1", "2", san.netif).out == OTHER + "\n"
        debian = san.debian("aoecfg", "-c", "fset", "-s", CONFIG, "-t", "2", "1", "2", san.netif)
        assert (debian.rc, debian.out) == (0, CONFIG + "\n")
        assert san.ours("aoecfg", "-t", "2", "1", "2", san.netif).out == CONFIG + "\n"
    finally:
        san.debian("aoecfg", "-c", "fset", "-s", CONFIG, "-t", "2", "1", "2", san.netif)


def test_aoecfg_no_answer_exits_zero_after_timeout(san):
    ours, debian = cfg_both(san, "-t", "1", "5", "5", san.netif)
    same(ours, debian)
    assert (ours.rc, ours.out) == (0, "")
    for run in (ours, debian):
        assert run.seconds >= 0.9  # waited its timeout (-s 1 / -t 1) before giving up


def test_aoecfg_short_reply_seen_only_by_ours(san):
    debian = san.debian("aoecfg", "-t", "2", "7", "7", san.netif)
    assert (debian.rc, debian.out) == (0, "")
    # Ours takes the answer and exits: with -t 600 a wait for the timeout would end the run
    # (60 s) with TimeoutExpired instead.
    ours = san.ours("aoecfg", "-t", "600", "7", "7", san.netif)
    assert (ours.rc, ours.out) == (0, "\n")


# aoe-sancheck


def test_aoe_sancheck_report_matches_debian(tmp_path):
    """Jumbo frames on one side only: both tools must warn about the same paths."""
    with Lab() as lab:
        ns_t, ns_i = lab.netns("sctgt"), lab.netns("scini")
        t1, i1 = lab.veth(ns_t, ns_i)
        t2, i2 = lab.veth(ns_t, ns_i)
        i1.set_mtu(9000)  # the target's end stays at 1500: big probes die on the way
        t2.set_mtu(9000)  # the target offers 8704-byte payloads the initiator's MTU cannot carry
        start_vblade(lab, t1, 1, 2, tmp_path / "a")
        start_vblade(lab, t2, 3, 4, tmp_path / "b")
        wait_for_target(San(lab, ns_i, i1.ifname, ""), 1, 2)
        wait_for_target(San(lab, ns_i, i2.ifname, ""), 3, 4)
        san = San(lab, ns_i, "", "")
        ours = san.ours("aoe-sancheck", "-v", "-t", "1")
        debian = san.debian("aoe-sancheck", "-v")
        assert ours.rc == debian.rc == 0
        # Debian's prints "write failed" for each probe too big for the veth peer.
        debian_out = debian.out.replace("write failed\n", "")
        assert ours.out == debian_out
        assert ours.out.startswith("Probing...done.\n")
        assert f"\n{i1.ifname}\tUP\t9000\t\n" in ours.out
        assert f"\n{i2.ifname}\tUP\t1500\t\n" in ours.out
        assert f"\ne1.2\t   1\t1024\t{i1.ifname}\n" in ours.out
        assert f"   The path {i1.ifname}->{t1.mac.hex()} is only capable of 1024 byte payloads\n" in ours.out
        assert f"\ne3.4\t   1\t8704\t{i2.ifname}\n" in ours.out
        assert f"   {i2.ifname}: MTU (1500) not set optimally for device's capable payload\n" in ours.out
        seen = {i1.ifname: f"e1.2 {t1.mac.hex()} 2", i2.ifname: f"e3.4 {t2.mac.hex()} 2"}
        assert ours.out.endswith("".join(f"{name}:\n{seen[name]}\n\n" for name in sorted(seen)))


@pytest.mark.parametrize("args", [["x"], ["-v", "x"], ["-x"]])
def test_aoe_sancheck_ignores_other_arguments_as_debians_does(tmp_path, args):
    """aoetools lists what each interface saw only when its one argument is -v, and ignores
    anything else; ours too (its -t, pyaoe's own, is given first)."""
    with Lab() as lab:
        ns_t, ns_i = lab.netns("sctgt"), lab.netns("scini")
        t1, i1 = lab.veth(ns_t, ns_i)
        start_vblade(lab, t1, 1, 2, tmp_path / "a")
        wait_for_target(San(lab, ns_i, i1.ifname, ""), 1, 2)
        san = San(lab, ns_i, "", "")
        ours = san.ours("aoe-sancheck", "-t", "1", *args)
        debian = san.debian("aoe-sancheck", *args)
        assert (ours.rc, ours.out, ours.err) == (debian.rc, debian.out, debian.err) == (0, ours.out, "")
        assert f"\ne1.2\t   1\t1024\t{i1.ifname}\n" in ours.out
        assert f"{i1.ifname}:\n" not in ours.out  # no per-interface list


# What the README lists as different, from both sides


@pytest.mark.parametrize(
    ("tool", "args", "debian_rc", "line"),
    [
        # atoi: "x" is shelf 0, so Debian's pings e0.2, which nobody serves, until -s runs out.
        ("aoeping", ["-s", "1", "x", "2"], SIGALRM_DEATH, "aoeping: shelf must be a decimal number, not 'x'"),
        # atoi: "2x" is 2 seconds.
        ("aoeping", ["-s", "2x", "1", "2"], 0, "aoeping: timeout seconds must be a decimal number, not '2x'"),
        # strtoul: "1x" is shelf 1.
        ("aoecfg", ["-t", "2", "1x", "2"], 0, "aoecfg: shelf must be a number, not '1x'"),
        # A usage mistake: getopt's complaint and the usage summary.
        ("aoeping", ["-x", "1", "2"], 1, "aoeping: unrecognized arguments: -x (try --help)"),
        ("aoecfg", ["-x"], 1, "aoecfg: unrecognized arguments: -x (try --help)"),
    ],
)
def test_what_aoetools_misread_is_one_line(san, tool, args, debian_rc, line):
    ours, debian = san.ours(tool, *args, san.netif), san.debian(tool, *args, san.netif)
    assert debian.rc == debian_rc
    assert (ours.rc, ours.out, ours.err) == (1, "", line + "\n")
    if debian_rc == 1:
        assert "usage" in debian.err


@pytest.mark.parametrize("tool", ["aoeping", "aoecfg"])
def test_h_prints_the_help(san, tool):
    ours, debian = san.ours(tool, "-h"), san.debian(tool, "-h")
    assert (ours.rc, ours.err) == (0, "")
    assert ours.out.startswith(f"usage: {tool} ")
    # aoeping: its summary on stderr, exit 0; aoecfg: "invalid option" and its usage, exit 1.
    assert (debian.rc, debian.out) == ((0, "") if tool == "aoeping" else (1, ""))
    assert "usage:" in debian.err
