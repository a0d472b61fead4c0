"""An initiator engine with one device up against a real target engine, driven by hand so that
an attacker's frames can be slipped in between the target's answers and their delivery, and
neither engine may swallow an exception (swallowed.py). Used by the initiator fuzzers
(hypothesis and atheris).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from pyaoe.initiator import InitiatorConfig, InitiatorEngine, RequestDone, RequestFailed
from pyaoe.protocol import SECTOR_SIZE
from pyaoe.storage.memory import MemoryBackend
from pyaoe.target import Export, ExportConfig, TargetEngine

from .swallowed import WATCH

__all__ = ["Rig", "IMAC", "IMAC_OFFLIST", "TMAC", "ATTACKER", "SHELF", "SLOT", "SECTORS", "Spoofs"]

IMAC = bytes.fromhex("020000000001")
IMAC_OFFLIST = bytes.fromhex("020000000002")
TMAC = bytes.fromhex("0200000000aa")
ATTACKER = bytes.fromhex("0266666666ff")
SHELF, SLOT = 1, 2
SECTORS = 96
#: What the attacker slips in before the target's answers are delivered: (interface, frame).
Spoofs = Callable[[list[bytes]], list[tuple[str, bytes]]]


@dataclass
class Rig:
    """An initiator on eth0 (iflist) and eth1 (not in it), a target on eth0, driven by hand so
    that an attacker's frames can be slipped in between the target's answers and their delivery."""

    target: TargetEngine
    backend: MemoryBackend
    engine: InitiatorEngine
    now: float = 0.0
    results: dict[int, RequestDone | RequestFailed] = field(default_factory=dict)
    injected: int = 0

    @classmethod
    def make(cls, seed: int = 0) -> Rig:
        backend = MemoryBackend(
            SECTORS * SECTOR_SIZE, data=random.Random(seed).randbytes(SECTORS * SECTOR_SIZE)
        )
        target = TargetEngine(TMAC, 1500, [Export(ExportConfig(shelf=SHELF, slot=SLOT), backend)])
        engine = InitiatorEngine(
            InitiatorConfig(iflist=("eth0",), discover_interval=0),
            {"eth0": (IMAC, 1500), "eth1": (IMAC_OFFLIST, 1500)},
        )
        WATCH.reset()
        rig = cls(target, backend, engine)
        rig.pump(lambda replies: [])
        assert any(d.up for d in engine.devices()), "the device never came up"
        return rig

    def pump(self, spoofs: Spoofs, rounds: int = 2000, until: int | None = None) -> None:
        """Run until nothing is left to do (or request ``until`` is finished); before the
        target's answers are delivered, ``spoofs(answers)`` says what the attacker slips in:
        (interface, frame) pairs."""
        engine = self.engine
        for _ in range(rounds):
            if until is not None and until in self.results:
                return
            out = engine.frames_to_send(self.now)
            answers: list[bytes] = []
            for ifname, frame in out:
                if ifname == "eth0":
                    answers += self.target.handle_frame(frame, self.now)
            for ifname, frame in spoofs(answers):
                self.injected += 1
                engine.receive_frame(frame, ifname, self.now)
            if len(answers) > 1 and self.now % 2 < 1:
                engine.receive_frames(answers, "eth0", self.now)  # both entry points
            else:
                for frame in answers:
                    engine.receive_frame(frame, "eth0", self.now)
            WATCH.check()  # the target's and the initiator's: neither may hide an exception
            while (event := engine.next_event()) is not None:
                if isinstance(event, RequestDone | RequestFailed):
                    self.results[event.request_id] = event
            if not out and not answers:
                timer = engine.get_timer()
                if timer is None:
                    return
                self.now = max(self.now, timer)
                engine.handle_timer(self.now)
            self.now += 0.0001
        raise AssertionError("the engine never went quiet")
