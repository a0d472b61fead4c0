"""pyaoe.reliability.runner: every fault and load scenario in one run, short (CI) or long (soak).

run_scenarios() runs the chosen scenarios one after the other in a scratch folder and returns
their Figures; a scenario that raises becomes a failed row, never an aborted run.
"""

from __future__ import annotations

import logging
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyaoe.reliability.faults import FAULTS, FaultOptions
from pyaoe.reliability.load import LOADS, LoadOptions
from pyaoe.reliability.report import Figures
from pyaoe.reliability.stable import stable_storage

__all__ = ["SoakPlan", "SCENARIOS", "run_scenarios", "short_plan", "soak_plan"]

log = logging.getLogger(__name__)

_FAULTS: dict[str, Callable[[FaultOptions], Figures]] = {**FAULTS, "stable": stable_storage}
#: Scenario names in the order they run.
SCENARIOS: tuple[str, ...] = (*_FAULTS, *LOADS)


@dataclass(frozen=True)
class SoakPlan:
    """How long each part runs (seconds) and how big it is."""

    fault_seconds: float
    faults: int
    fault_size_mib: int
    load_seconds: float
    hold_seconds: float
    exports: int = 100
    initiators: int = 4
    many: int = 1000


def short_plan() -> SoakPlan:
    """The CI run: every scenario, a few minutes in all."""
    return SoakPlan(fault_seconds=12, faults=2, fault_size_mib=16, load_seconds=20, hold_seconds=10)


def soak_plan(minutes: float = 5.0) -> SoakPlan:
    """The soak run: the 100-export load runs ``minutes``; each fault scenario a minute."""
    return SoakPlan(fault_seconds=60, faults=5, fault_size_mib=64, load_seconds=minutes * 60, hold_seconds=60)


def run_scenarios(
    plan: SoakPlan,
    names: Sequence[str] = SCENARIOS,
    *,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Figures]:
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    results = []
    with tempfile.TemporaryDirectory(prefix="pyaoe-soak-", dir=workdir) as scratch:
        for name in names:
            folder = Path(scratch) / name
            folder.mkdir()
            if progress is not None:
                progress(f"running {name} ...")
            started = time.monotonic()
            try:
                if name in _FAULTS:
                    options = FaultOptions(
                        folder, seconds=plan.fault_seconds, faults=plan.faults, size_mib=plan.fault_size_mib
                    )
                    figures = _FAULTS[name](options)
                else:
                    figures = LOADS[name](
                        LoadOptions(
                            folder,
                            seconds=plan.load_seconds,
                            hold_seconds=plan.hold_seconds,
                            exports=plan.exports,
                            initiators=plan.initiators,
                            many=plan.many,
                        )
                    )
            except Exception as exc:
                log.debug("%s failed", name, exc_info=True)
                figures = Figures(name, seconds=time.monotonic() - started)
                figures.problems.append(f"crashed: {exc!r}: {traceback.format_exc(limit=-3)}")
            results.append(figures)
            if progress is not None:
                progress(f"{name}: {'ok' if figures.passed else 'FAILED'} in {figures.seconds:.0f} s")
    return results
