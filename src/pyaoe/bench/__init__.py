"""pyaoe.bench: `pyaoe bench`, pyaoe's target (and initiator) against Debian's vblade under the
same C load generator, in network namespaces over a veth pair; one table and a JSON file.

plan: what is measured; tools: the C programs; peers: the targets; load: one measured run;
runner: the whole run; report: medians, ratios, the table; initiator*: the initiator's rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pyaoe.bench.nbd import run_nbd_rows
from pyaoe.bench.plan import BenchOptions, default_options, smoke_options
from pyaoe.bench.report import build_report, format_table, write_json
from pyaoe.bench.runner import Measurements, run_measurements
from pyaoe.bench.tools import build_tools

__all__ = ["BenchOptions", "default_options", "smoke_options", "run_bench", "format_table", "write_json"]


def run_bench(options: BenchOptions, command: Sequence[str] = ()) -> dict[str, Any]:
    """Build the tools, measure every row, and return the report (see report.build_report)."""
    start = time.monotonic()
    tools = build_tools()
    measurements = run_measurements(options, tools) if not options.only_nbd else Measurements()
    nbd_rows = run_nbd_rows(options, tools) if options.nbd or options.only_nbd else []
    report = build_report(options, measurements, time.monotonic() - start, command)
    if options.only_nbd:
        report["rows"] = []
    report["nbd_rows"] = nbd_rows
    return report
