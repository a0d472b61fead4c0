"""Config answers lost on the way to the initiator: the periodic discovery finds the missing
exports on its own (the driver asks every 60 s; here every 2 s to keep the test short)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab
from pyaoe.reliability.peers import TARGET_COMMAND, lossy_wire, start_initiator, start_target, write_config

pytestmark = pytest.mark.netns

EXPORTS = 200


def test_exports_whose_config_answers_were_lost_are_found_by_the_next_discovery(tmp_path: Path) -> None:
    with Lab() as lab:
        target_ns, initiator_ns = lab.netns("aoedt"), lab.netns("aoedi")
        here, there = lab.veth(initiator_ns, target_ns)
        exports = []
        for i in range(EXPORTS):
            path = tmp_path / f"{i}.img"
            path.write_bytes(bytes(4096))
            exports.append((30 + i // 50, i % 50, there.ifname, path))
        config = tmp_path / "exports.toml"
        write_config(config, exports)
        names = {f"e{shelf}.{slot}" for shelf, slot, _n, _p in exports}
        args = ["--config", str(config)]
        with start_target(lab, target_ns, args, command=TARGET_COMMAND, exports=EXPORTS, workdir=tmp_path):
            # Most answers to the first discovery are lost on the way in.
            lossy_wire(lab, initiator_ns, here.ifname, drop=70, dup=0)
            # The periodic discovery alone: no start-up repeats (1 s and 3 s) to find them first.
            service = start_initiator(initiator_ns, [here.ifname], discover_interval=2.0, discover_again=())
            try:
                deadline = time.monotonic() + 20
                while not service.devices():
                    assert time.monotonic() < deadline, "nothing discovered through the lossy wire"
                    time.sleep(0.01)
                # The fault lasts a second after the first answer came in: the first discovery's
                # answers are all in (or lost) by then, and the next discovery is still to come.
                time.sleep(1.0)
                known = {d.name for d in service.devices()}
                lab.run(initiator_ns, ["nft", "delete", "table", "netdev", "pyaoe_faults"], check=True)
                deadline = time.monotonic() + 30
                while (up := {d.name for d in service.devices() if d.up}) != names:
                    assert time.monotonic() < deadline, f"{len(up)} of {EXPORTS} up"
                    time.sleep(0.05)
            finally:
                service.stop()
    assert len(known) < EXPORTS // 2  # the first discovery really lost answers
