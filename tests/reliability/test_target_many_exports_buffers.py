"""One `pyaoe target` process serving many exports on one interface: its socket holds every
request their buffer counts invite, so one discovery (an IDENTIFY per export, all at once)
needs next to no retransmission."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pyaoe.initiator import InitiatorConfig
from pyaoe.lab.netns import Lab
from pyaoe.service.initiator import InitiatorService
from support.target import PYAOE_TARGET, start_target

pytestmark = pytest.mark.netns

EXPORTS = 400


def test_discovering_400_exports_of_one_process_loses_no_identify(tmp_path: Path) -> None:
    with Lab() as lab:
        ns = lab.netns("aoebuf")
        here, there = lab.veth(None, ns)
        tables = []
        for i in range(EXPORTS):
            path = tmp_path / f"{i}.img"
            path.write_bytes(bytes(4096))
            tables.append(
                f"[[export]]\nshelf = {20 + i // 100}\nslot = {i % 100}\n"
                f'netif = "{there.ifname}"\nfile = "{path}"\n'
            )
        config = tmp_path / "exports.toml"
        config.write_text("".join(tables))
        with start_target(lab, there, ["--config", str(config)], command=PYAOE_TARGET, exports=EXPORTS):
            service = InitiatorService(InitiatorConfig(iflist=(here.ifname,)))
            service.start()
            try:
                deadline = time.monotonic() + 60
                while sum(d.up for d in service.devices()) < EXPORTS:
                    assert time.monotonic() < deadline, f"{sum(d.up for d in service.devices())} up"
                    time.sleep(0.05)
                counters = service.counters
            finally:
                service.stop()
    # Before the fix the target's 64 KiB socket dropped most of the burst of IDENTIFYs (about
    # 95 % were sent twice). A few retransmits may still come from a slow, shared machine.
    assert counters.retransmits < EXPORTS // 10, counters
