"""Paired rounds of "metrics on" against "metrics off" for the benchmarks beside it: the two run in
turn, the first alternating, and each pair's ratio is kept, so that a shared machine's drift
cancels out pair by pair. Imported by the scripts in this folder (run from it as files)."""

from __future__ import annotations

import statistics
from collections.abc import Callable


def metrics_on_off(
    run: Callable[[bool], tuple[float, float]], pairs: int, rate: str, cost: str, cost_scale: float
) -> None:
    """``run(metrics)`` gives (rate, cost per unit); prints each pair and the medians of the
    ratios on/off. ``rate`` names the rate ("frames/s"), ``cost`` the cost's unit ("µs CPU a
    frame"), shown times ``cost_scale``."""
    ratios, cost_ratios = [], []
    for i in range(pairs):
        first = i % 2 == 0
        a = run(first)
        b = run(not first)
        (on, on_cost), (off, off_cost) = (a, b) if first else (b, a)
        ratios.append(on / off)
        cost_ratios.append(on_cost / off_cost)
        print(
            f"pair {i + 1}: metrics on {on:,.1f} {rate} ({on_cost * cost_scale:.2f} {cost}), "
            f"off {off:,.1f} ({off_cost * cost_scale:.2f}): {on / off:.3f}x",
            flush=True,
        )
    print(
        f"median of {pairs} paired ratios (on/off): {rate} {statistics.median(ratios):.3f}x, "
        f"{cost} {statistics.median(cost_ratios):.3f}x"
    )
