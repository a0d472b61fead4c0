"""Access control on the wire: a real target process in a namespace, a client and an attacker
on the same Ethernet segment (a hub: everyone hears everything), and for each control a check
that the attacker's frame is refused and the backing file, inside and outside the exported
window, is untouched, while the client still works.

Controls: the interface the target is bound to, -m allow lists, vblade's first-speaker mask
claim, reserve/release (with force-set takeover), read-only exports, the config string claim,
and --admin (with what --state-dir keeps).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab, Link
from pyaoe.protocol import (
    AoeError,
    AtaArg,
    Command,
    ConfigArg,
    Directive,
    Frame,
    MaskArg,
    ReserveArg,
)
from support.target import PYAOE_TARGET, RunningTarget, start_target

from .wire import Host, Hub, ata_read, ata_write, plain_ata

pytestmark = pytest.mark.netns

DEBIAN_VBLADE = ("/usr/sbin/vblade",)
SECTORS = 256
#: The export is sectors [OFFSET, OFFSET + LENGTH) of the file (-o, -l).
OFFSET, LENGTH = 16, 64
SHELF, SLOT = 1, 2
DRDY, DRDY_ERR, ABRT = 0x40, 0x41, 0x04


@dataclass
class Segment:
    lab: Lab
    hub: Hub
    client: Host
    attacker: Host
    target_link: Link
    path: Path
    #: What the file must hold (updated by the tests' own valid writes).
    model: bytearray
    target: RunningTarget | None = None

    @property
    def mac(self) -> bytes:
        return self.target_link.mac

    def serve(self, args: Sequence[str], command: Sequence[str] = PYAOE_TARGET) -> RunningTarget:
        """Start a target for e1.2 on the segment, exporting the window of the file."""
        argv = [
            *args,
            "-o",
            str(OFFSET),
            "-l",
            str(LENGTH),
            str(SHELF),
            str(SLOT),
            self.target_link.ifname,
            str(self.path),
        ]
        target = start_target(self.lab, self.target_link, argv, listen=self.client.link, command=command)
        if target.listener is not None:
            target.listener.close()
            target.listener = None
        self.target = target
        return target

    def ask(self, host: Host, command: int, arg: object) -> Frame:
        return host.ask(self.mac, SHELF, SLOT, command, arg)

    def write(self, host: Host, lba: int, data: bytes) -> Frame:
        """A write; the model follows when it was acknowledged."""
        answer = self.ask(host, Command.ATA, ata_write(lba, data))
        if ok(answer):
            start = (OFFSET + lba) * 512
            self.model[start : start + len(data)] = data
        return answer

    def client_reads_back(self) -> None:
        """The client reads the whole export and it matches the model; the file, inside and
        outside the window, is the model."""
        for lba in range(0, LENGTH, 2):
            answer = self.ask(self.client, Command.ATA, ata_read(lba, 2))
            assert ok(answer), answer
            start = (OFFSET + lba) * 512
            assert answer.arg.data[:1024] == self.model[start : start + 1024]  # type: ignore[union-attr]
        assert self.path.read_bytes() == self.model, "the backing file changed"

    def mask_list(self) -> list[bytes]:
        answer = self.ask(self.client, Command.MAC_MASK_LIST, MaskArg())
        return [d.mac for d in answer.arg.directives]  # type: ignore[union-attr]


@contextmanager
def segment(tmp_path: Path, hosts: int = 2) -> Iterator[Segment]:
    with Lab() as lab:
        hub = Hub(lab)
        client, attacker = hub.host("cli"), hub.host("atk")
        target_link = hub.plug(lab.netns("tgt"))
        path = tmp_path / "disk.img"
        model = bytearray(random.Random(5).randbytes(SECTORS * 512))
        path.write_bytes(model)
        seg = Segment(lab, hub, client, attacker, target_link, path, model)
        try:
            yield seg
        finally:
            if seg.target is not None:
                seg.target.close()
            client.close()
            attacker.close()


def ok(answer: Frame) -> bool:
    return not answer.header.is_error and isinstance(answer.arg, AtaArg) and answer.arg.cmd_status == DRDY


def aoe_error(answer: Frame) -> int:
    return answer.header.error if answer.header.is_error else 0


def evil(n: int = 1) -> bytes:
    return b"\xee" * (512 * n)


def edit(*directives: tuple[int, bytes]) -> MaskArg:
    return MaskArg(mcmd=1, directives=tuple(Directive(d, m) for d, m in directives))


# -- the interface ------------------------------------------------------------------------------
def test_a_target_bound_to_one_interface_ignores_frames_arriving_on_another(tmp_path: Path) -> None:
    with segment(tmp_path) as seg:
        # The target's namespace has a second interface, straight to the attacker.
        target_ns = seg.target_link.netns
        assert target_ns is not None
        side_attacker_ns = seg.lab.netns("atk2")
        side, target_side = seg.lab.veth(side_attacker_ns, target_ns)
        sneak = Host(side)
        try:
            seg.serve([])
            tags = []
            for dst in (target_side.mac, seg.mac, b"\xff" * 6):
                for shelf, slot in ((SHELF, SLOT), (0xFFFF, 0xFF)):
                    tags += [
                        sneak.post(dst, shelf, slot, Command.ATA, ata_write(0, evil())),
                        sneak.post(dst, shelf, slot, Command.ATA, ata_read(0)),
                        sneak.post(
                            dst, shelf, slot, Command.QUERY_CONFIG, ConfigArg(ccmd=3, config_string=b"evil")
                        ),
                        sneak.post(dst, shelf, slot, Command.MAC_MASK_LIST, edit((1, sneak.mac))),
                        sneak.post(
                            dst, shelf, slot, Command.RESERVE_RELEASE, ReserveArg(rcmd=2, macs=(sneak.mac,))
                        ),
                    ]
            # The client, on the served interface, is answered; the side door never is.
            assert ok(seg.write(seg.client, 0, b"\x11" * 512))
            sneak.unanswered(*tags)
            assert seg.mask_list() == []
            assert seg.ask(seg.client, Command.QUERY_CONFIG, ConfigArg()).arg.config_string == b""  # type: ignore[union-attr]
            seg.client_reads_back()
        finally:
            sneak.close()


# -- -m -------------------------------------------------------------------------------------------
def test_an_allow_list_ignores_every_other_host(tmp_path: Path) -> None:
    with segment(tmp_path) as seg:
        seg.serve(["-m", seg.client.mac.hex(":")])
        attacker = seg.attacker
        tags = [
            attacker.post(seg.mac, SHELF, SLOT, Command.ATA, ata_write(3, evil())),
            attacker.post(seg.mac, SHELF, SLOT, Command.ATA, plain_ata(0xEC)),
            attacker.post(b"\xff" * 6, 0xFFFF, 0xFF, Command.QUERY_CONFIG, ConfigArg()),
            attacker.post(
                seg.mac, SHELF, SLOT, Command.MAC_MASK_LIST, edit((2, seg.client.mac), (1, attacker.mac))
            ),
            attacker.post(
                seg.mac, SHELF, SLOT, Command.RESERVE_RELEASE, ReserveArg(rcmd=2, macs=(attacker.mac,))
            ),
        ]
        assert ok(seg.write(seg.client, 5, b"\x22" * 1024))
        attacker.unanswered(*tags)
        assert seg.mask_list() == [seg.client.mac]
        assert seg.ask(seg.client, Command.RESERVE_RELEASE, ReserveArg()).arg.macs == ()  # type: ignore[union-attr]
        seg.client_reads_back()


@pytest.mark.parametrize("peer", ["pyaoe", "vblade"])
def test_without_admin_the_first_host_to_edit_an_empty_mask_list_locks_out_the_rest(
    tmp_path: Path, peer: str
) -> None:
    """vblade's behaviour, kept by default: anyone may fill an empty mask list, and from then on
    everyone else, the rightful client included, is ignored (Debian's vblade does the same)."""
    with segment(tmp_path) as seg:
        seg.serve([], command=PYAOE_TARGET if peer == "pyaoe" else DEBIAN_VBLADE)
        assert ok(seg.write(seg.client, 0, b"\x33" * 512))
        answer = seg.ask(seg.attacker, Command.MAC_MASK_LIST, edit((1, seg.attacker.mac)))
        assert [d.mac for d in answer.arg.directives] == [seg.attacker.mac]  # type: ignore[union-attr]
        tags = [
            seg.client.post(seg.mac, SHELF, SLOT, Command.ATA, ata_write(0, b"\x44" * 512)),
            seg.client.post(seg.mac, SHELF, SLOT, Command.MAC_MASK_LIST, edit((2, seg.attacker.mac))),
        ]
        assert ok(seg.ask(seg.attacker, Command.ATA, ata_read(0)))
        seg.client.unanswered(*tags)
        assert seg.path.read_bytes() == seg.model


# -- reserve/release ---------------------------------------------------------------------------
def test_a_reservation_refuses_io_from_other_hosts_until_force_set_takes_it_over(tmp_path: Path) -> None:
    with segment(tmp_path) as seg:
        seg.serve([])
        client, attacker = seg.client, seg.attacker
        answer = seg.ask(client, Command.RESERVE_RELEASE, ReserveArg(rcmd=1, macs=(client.mac,)))
        assert aoe_error(answer) == 0 and answer.arg.macs == (client.mac,)  # type: ignore[union-attr]
        for arg in (ata_write(7, evil()), ata_read(7), plain_ata(0xE7)):
            assert (
                aoe_error(seg.write(attacker, 7, evil()) if arg.data else seg.ask(attacker, Command.ATA, arg))
                == AoeError.TARGET_RESERVED
            )
        # IDENTIFY is not I/O: answered, as vblade does.
        assert ok(seg.ask(attacker, Command.ATA, plain_ata(0xEC)))
        # Neither a plain set nor a release by a stranger.
        for macs in ((attacker.mac,), ()):
            answer = seg.ask(attacker, Command.RESERVE_RELEASE, ReserveArg(rcmd=1, macs=macs))
            assert aoe_error(answer) == AoeError.TARGET_RESERVED and answer.arg.macs == (client.mac,)  # type: ignore[union-attr]
        assert ok(seg.write(client, 7, b"\x55" * 512))
        seg.client_reads_back()

        # Force set takes it over: now the client is the stranger.
        answer = seg.ask(attacker, Command.RESERVE_RELEASE, ReserveArg(rcmd=2, macs=(attacker.mac,)))
        assert aoe_error(answer) == 0 and answer.arg.macs == (attacker.mac,)  # type: ignore[union-attr]
        assert aoe_error(seg.write(client, 8, b"\x66" * 512)) == AoeError.TARGET_RESERVED
        assert ok(seg.write(attacker, 9, b"\x77" * 512))
        assert seg.path.read_bytes() == seg.model


# -- read-only ---------------------------------------------------------------------------------
def test_a_read_only_export_refuses_every_write(tmp_path: Path) -> None:
    with segment(tmp_path) as seg:
        target = seg.serve(["-r"])
        assert target.mode == "O_RDONLY"
        for host in (seg.attacker, seg.client):
            for lba, data in ((0, evil()), (LENGTH - 2, evil(2))):
                answer = seg.write(host, lba, data)
                assert not answer.header.is_error
                assert (answer.arg.cmd_status, answer.arg.err_feature) == (DRDY_ERR, ABRT)  # type: ignore[union-attr]
            # Outside the window: out of range, not a write somewhere else.
            answer = seg.write(host, LENGTH, evil())
            assert answer.arg.cmd_status == DRDY_ERR  # type: ignore[union-attr]
        seg.client_reads_back()


# -- the config string ------------------------------------------------------------------------
def test_a_claimed_config_string_cannot_be_set_again(tmp_path: Path) -> None:
    with segment(tmp_path) as seg:
        seg.serve([])
        answer = seg.ask(seg.client, Command.QUERY_CONFIG, ConfigArg(ccmd=3, config_string=b"client's"))
        assert aoe_error(answer) == 0
        answer = seg.ask(seg.attacker, Command.QUERY_CONFIG, ConfigArg(ccmd=3, config_string=b"evil"))
        assert aoe_error(answer) == AoeError.CONFIG_STRING_PRESENT
        assert answer.arg.config_string == b"client's"  # type: ignore[union-attr]
        # A test for the attacker's string gets no answer: it is not there.
        tag = seg.attacker.post(
            seg.mac, SHELF, SLOT, Command.QUERY_CONFIG, ConfigArg(ccmd=1, config_string=b"evil")
        )
        assert seg.ask(seg.client, Command.QUERY_CONFIG, ConfigArg()).arg.config_string == b"client's"  # type: ignore[union-attr]
        seg.attacker.unanswered(tag)


# -- --admin -------------------------------------------------------------------------------------
def test_admin_alone_edits_the_mask_and_reserve_lists_and_only_the_lists_are_kept(tmp_path: Path) -> None:
    with segment(tmp_path) as seg:
        admin = seg.hub.host("adm")
        state_dir = tmp_path / "state"
        try:
            seg.serve(["--admin", admin.mac.hex(":"), "--state-dir", str(state_dir)])
            client, attacker = seg.client, seg.attacker
            # The attacker speaks first, and is refused: no lock-out.
            answer = seg.ask(attacker, Command.MAC_MASK_LIST, edit((1, attacker.mac)))
            assert answer.arg.merror == 1 and answer.arg.directives == ()  # type: ignore[union-attr]
            for rcmd in (1, 2):
                answer = seg.ask(
                    attacker, Command.RESERVE_RELEASE, ReserveArg(rcmd=rcmd, macs=(attacker.mac,))
                )
                assert aoe_error(answer) == AoeError.TARGET_RESERVED
            assert not list(state_dir.iterdir()), "a refused edit was saved"
            # The admin masks the target to the client, and is not locked out by it.
            answer = seg.ask(admin, Command.MAC_MASK_LIST, edit((1, client.mac)))
            assert answer.arg.merror == 0 and seg.mask_list() == [client.mac]  # type: ignore[union-attr]
            answer = seg.ask(admin, Command.RESERVE_RELEASE, ReserveArg(rcmd=2, macs=(client.mac,)))
            assert aoe_error(answer) == 0
            tags = [
                attacker.post(seg.mac, SHELF, SLOT, Command.ATA, ata_write(0, evil())),
                attacker.post(seg.mac, SHELF, SLOT, Command.MAC_MASK_LIST, edit((1, attacker.mac))),
                # Not even the client, reserved and allowed, may edit the lists.
                client.post(seg.mac, SHELF, SLOT, Command.RESERVE_RELEASE, ReserveArg(rcmd=1)),
            ]
            assert ok(seg.write(client, 1, b"\x88" * 512))
            attacker.unanswered(tags[0], tags[1])
            (refused,) = client.answers(tags[2], 1.0)
            assert aoe_error(refused) == AoeError.TARGET_RESERVED
            seg.client_reads_back()

            # What was kept: the lists, never the admin list.
            (saved,) = state_dir.iterdir()
            doc = json.loads(saved.read_text())
            assert doc["mask_list"] == [client.mac.hex(":")] and doc["reserve_list"] == [client.mac.hex(":")]
            assert admin.mac.hex(":") not in saved.read_text() and admin.mac.hex() not in saved.read_text()
            assert set(doc) == {"config_string", "config_string_hex", "mask_list", "reserve_list"}
            assert seg.target is not None
            seg.target.close()

            # Restarted without --admin: the lists come back, the restriction does not.
            seg.serve(["--state-dir", str(state_dir)])
            assert seg.mask_list() == [client.mac]
            answer = seg.ask(client, Command.RESERVE_RELEASE, ReserveArg(rcmd=1))
            assert aoe_error(answer) == 0 and answer.arg.macs == ()  # type: ignore[union-attr]
        finally:
            admin.close()
