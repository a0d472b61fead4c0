"""pyaoe's target keeps serving when its interface goes down and comes back up (Debian's vblade
exits with "read network: Network is down", taking every initiator's device with it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyaoe.initiator import InitiatorConfig
from pyaoe.lab.netns import Lab
from pyaoe.service.initiator import InitiatorService
from support.target import PYAOE_TARGET, VBLADE, start_target

pytestmark = pytest.mark.netns


def wait_for_text(read: Callable[[], str], text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in read():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not within {timeout} s in:\n{read()}")
        time.sleep(0.05)


@pytest.mark.parametrize("interfaces", [1, 2], ids=["vblade-one-interface", "pyaoe-target-two-interfaces"])
def test_target_serves_again_after_its_link_went_down_and_up(tmp_path: Path, interfaces: int) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(range(256)) * 4096)
    with Lab() as lab:
        ns = lab.netns("aoeld")
        links = [lab.veth(None, ns) for _ in range(interfaces)]
        here, there = links[0]
        netifs = ",".join(t.ifname for _h, t in links)
        command, args = (
            (VBLADE, ["3", "4", there.ifname, str(disk)])
            if interfaces == 1
            else (PYAOE_TARGET, ["3", "4", netifs, str(disk)])
        )
        with start_target(lab, there, args, listen=here, command=command) as target:
            service = InitiatorService(InitiatorConfig(iflist=(here.ifname,), deadsecs=30))
            service.start()
            try:
                service.wait_for_device("e3.4", 20)
                assert service.read("e3.4", 1000, 3000).result(10) == disk.read_bytes()[1000:4000]
                there.set_up(False)
                wait_for_text(target.stderr, "interface down", 10)
                # A request sent while the link is down is answered once it is back.
                pending = service.write("e3.4", 512, b"after the outage")
                there.set_up(True)
                pending.result(20)
                assert service.read("e3.4", 0, 4096).result(10)[512:528] == b"after the outage"
                assert target.alive()
            finally:
                service.stop()
        assert disk.read_bytes()[512:528] == b"after the outage"
