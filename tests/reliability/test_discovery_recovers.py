"""Config answers lost on the way to the initiator: the periodic discovery finds the missing
exports on its own (the driver asks every 60 s; here every 2 s to keep the test short)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab
from pyaoe.reliability.peers import TARGET_COMMAND, start_initiator, start_target, write_config
from support.wait import wait_until

pytestmark = pytest.mark.netns

EXPORTS = 200
#: On the initiator's interface: count the config answers arriving (unicast Query Config, command
#: byte 19 = 1: not the target's broadcast announcements, not IDENTIFY answers), then drop 70 %
#: of every AoE frame; count the broadcasts leaving (the discoveries).
RULES = """
table netdev discovery_test {{
    chain answers {{
        type filter hook ingress device "{ifname}" priority 0;
        ether type 0x88a2 ether daddr != ff:ff:ff:ff:ff:ff @ll,152,8 1 counter
        ether type 0x88a2 numgen random mod 100 < 70 counter drop
    }}
    chain queries {{
        type filter hook egress device "{ifname}" priority 0;
        ether type 0x88a2 ether daddr ff:ff:ff:ff:ff:ff counter
    }}
}}
"""


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

        def counters() -> tuple[int, int, int]:
            """(config answers arrived, AoE frames dropped, discoveries sent)."""
            out = lab.run(initiator_ns, ["nft", "list", "table", "netdev", "discovery_test"]).stdout
            arrived, dropped, sent = (int(n) for n in re.findall(r"counter packets (\d+)", out))
            return arrived, dropped, sent

        with start_target(lab, target_ns, args, command=TARGET_COMMAND, exports=EXPORTS, workdir=tmp_path):
            done = lab.run(initiator_ns, ["nft", "-f", "-"], input=RULES.format(ifname=here.ifname))
            assert done.returncode == 0, done.stderr
            # The periodic discovery alone: no start-up repeats (1 s and 3 s) to find them first.
            service = start_initiator(initiator_ns, [here.ifname], discover_interval=2.0, discover_again=())
            try:
                # Every export's answer to the first discovery has arrived (or been dropped):
                # an export not known by now can only be found by a later discovery.
                wait_until(lambda: counters()[0] >= EXPORTS, 30, "the answers to the first discovery")
                known = {d.name for d in service.devices()}
                _arrived, dropped, _sent = counters()
                lab.run(initiator_ns, ["nft", "delete", "table", "netdev", "discovery_test"], check=True)
                assert dropped > 0 and len(known) < EXPORTS, (dropped, len(known))
                wait_until(
                    lambda: {d.name for d in service.devices() if d.up} == names,
                    60,
                    "every export up after the loss stopped",
                )
            finally:
                service.stop()
