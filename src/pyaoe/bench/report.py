"""pyaoe.bench.report: samples to rows (medians over rounds, ratios pyaoe/reference, generator
headroom), the one table `pyaoe bench` prints, and the JSON it writes.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from typing import Any

from pyaoe.bench.initiator import API_KIND, FUSE_KIND
from pyaoe.bench.load import METRICS, Sample
from pyaoe.bench.peers import METRICS_KIND
from pyaoe.bench.plan import YARDSTICK_WORKLOADS, BenchOptions, initiator_workloads, row_id, setups_for
from pyaoe.bench.runner import Measurements

__all__ = ["build_report", "format_summary", "format_table", "write_json", "KINDS", "HEADROOM_MIN"]

#: Row kinds, in table order.
KINDS = ("target", "aoeblast", API_KIND, FUSE_KIND)
#: Figures a ratio makes sense for (not the counts of retransmits and errors).
RATIO_METRICS = tuple(m for m in METRICS if m not in ("retransmits", "errors"))
#: What a large-request initiator row and its one-frame reference row can be compared by:
#: not IOPS or latency, whose I/Os differ.
_SAME_UNITS = ("mbps", "target_cpu_s_per_gb", "initiator_cpu_s_per_gb", "target_rss_mib", "initiator_rss_mib")
#: Below this, the generator may have limited the row's best figure (that figure is a floor).
HEADROOM_MIN = 1.1

_REFERENCE = {
    "target": "vblade (Debian's, /usr/sbin/vblade), same generator (aoeload)",
    "aoeblast": "vblade, both measured with aoeblast",
    API_KIND: "aoeload (C) against vblade: the target row of the same workload (for -1m: seq-read/write)",
    FUSE_KIND: "aoeload (C) against vblade: the target row of the same workload (for -1m: seq-read/write)",
}


def _median_sample(samples: Sequence[Sample] | None) -> dict[str, Any] | None:
    if not samples:
        return None
    merged: dict[str, Any] = {}
    for f in fields(Sample):
        values = [getattr(s, f.name) for s in samples if getattr(s, f.name) is not None]
        merged[f.name] = statistics.median(values) if values else None
    return merged


def _ratio(
    a: dict[str, Any] | None, b: dict[str, Any] | None, metrics: Sequence[str] = RATIO_METRICS
) -> dict[str, float] | None:
    if a is None or b is None:
        return None
    out: dict[str, float] = {}
    for m in metrics:
        x, y = a.get(m), b.get(m)
        if x is not None and y:
            out[m] = x / y
    return out


def _paired_ratio(a: Sequence[Sample] | None, b: Sequence[Sample] | None) -> float | None:
    """Median over rounds of a's IOPS over b's in the same round (pairs cancel the drift)."""
    if not a or not b:
        return None
    ratios = [x.iops / y.iops for x, y in zip(a, b, strict=False) if x.iops and y.iops]
    return statistics.median(ratios) if ratios else None


def _row(m: Measurements, rid: str, kind: str, base_rid: str, setup: Any, workload: Any) -> dict[str, Any]:
    sides = m.samples.get(rid, {})
    pyaoe = _median_sample(sides.get("pyaoe"))
    # Initiator rows compare with the C generator against vblade: the target row's vblade side.
    ref_samples = (
        sides.get("vblade") if kind in ("target", "aoeblast") else m.samples.get(base_rid, {}).get("vblade")
    )
    reference = _median_sample(ref_samples)
    ceiling = _median_sample(sides.get("null"))
    if rid in m.unavailable:
        status, reason = "not available", m.unavailable[rid]
    elif pyaoe is None or reference is None or rid in m.errors:
        status, reason = "error", m.errors.get(rid) or m.errors.get(base_rid) or "no samples"
    else:
        status, reason = "ok", None
    if kind in ("target", "aoeblast"):
        # The same generator against a responder that does nothing: above both targets' rates,
        # the generator did not limit either.
        best = max((s["iops"] for s in (pyaoe, reference) if s and s.get("iops")), default=0.0)
    else:
        # The pyaoe initiator against the no-op: near 1, the initiator itself is the limit.
        best = pyaoe["iops"] if pyaoe and pyaoe.get("iops") else 0.0
    headroom = ceiling["iops"] / best if ceiling and best else None
    metrics_on = _median_sample(sides.get(METRICS_KIND))
    # Target rows: each target's IOPS as a fraction of the no-op's on the same wire (how close
    # to the ceiling it gets), and pyaoe over vblade, each a median of the rounds' own ratios.
    paired = (
        {
            "pyaoe_vblade": _paired_ratio(sides.get("pyaoe"), sides.get("vblade")),
            "pyaoe_null": _paired_ratio(sides.get("pyaoe"), sides.get("null")),
            "vblade_null": _paired_ratio(sides.get("vblade"), sides.get("null")),
        }
        if kind in ("target", "aoeblast")
        else None
    )
    return {
        "paired": paired,
        "metrics_on": metrics_on,
        "metrics_ratio": _paired_ratio(sides.get(METRICS_KIND), sides.get("pyaoe")),
        "id": rid,
        "kind": kind,
        "setup": {
            "name": setup.name,
            "mtu": setup.mtu,
            "backing": "O_DIRECT" if setup.direct else "page cache",
        },
        "workload": {**asdict(workload), "description": workload.describe()},
        "status": status,
        "reason": reason,
        "reference_name": _REFERENCE[kind],
        "pyaoe": pyaoe,
        "reference": reference,
        "ratio": _ratio(pyaoe, reference, _SAME_UNITS if workload.reference else RATIO_METRICS),
        "ceiling": ceiling,
        "headroom": headroom,
        "rounds": {side: [s.as_dict() for s in samples] for side, samples in sides.items()},
    }


def build_report(
    options: BenchOptions, m: Measurements, duration: float, command: Sequence[str]
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for setup in setups_for(options):
        for kind in KINDS:
            if kind == "aoeblast" and not options.yardstick:
                continue
            if kind in (API_KIND, FUSE_KIND) and setup.direct:
                continue
            workloads = initiator_workloads(options) if kind in (API_KIND, FUSE_KIND) else options.workloads
            for w in workloads:
                if kind == "aoeblast" and w.name not in YARDSTICK_WORKLOADS:
                    continue
                base = replace(w, name=w.reference) if w.reference else w
                rows.append(_row(m, row_id(setup, w, kind), kind, row_id(setup, base), setup, w))
    # At QD 1 the no-op's rate is the round trip's bound, not the generator's: not part of the check.
    checked = [
        r
        for r in rows
        if r["kind"] in ("target", "aoeblast")
        and r["headroom"] is not None
        and r["workload"]["queue_depth"] > 1
    ]
    below = [r["id"] for r in checked if r["headroom"] < HEADROOM_MIN]
    return {
        "tool": "pyaoe bench",
        "command": list(command),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(m.started)),
        "duration_s": round(duration, 1),
        "host": {
            "kernel": platform.release(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_start": m.loadavg[0] if m.loadavg else "",
            "loadavg_end": m.loadavg[-1] if m.loadavg else "",
        },
        "options": {k: v for k, v in asdict(options).items() if k != "workloads"},
        "rows": rows,
        "generator_check": {
            "min_headroom": min((r["headroom"] for r in checked), default=None),
            "threshold": HEADROOM_MIN,
            "rows_below": below,
            "ok": bool(checked) and not below,
        },
    }


def write_json(report: dict[str, Any], path: str) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")


# --- the table ---------------------------------------------------------------------------

_COLS = (
    ("MB/s", "mbps", 9, 1),
    ("IOPS", "iops", 10, 0),
    ("p50 µs", "p50_us", 8, 0),
    ("p99 µs", "p99_us", 8, 0),
    ("tgt s/GB", "target_cpu_s_per_gb", 9, 2),
    ("ini s/GB", "initiator_cpu_s_per_gb", 9, 2),
    ("tgt %", "target_cpu_pct", 6, 0),
    ("ini %", "initiator_cpu_pct", 6, 0),
    ("tgt MiB", "target_rss_mib", 8, 1),
    ("ini MiB", "initiator_rss_mib", 8, 1),
    ("rexmit", "retransmits", 7, 0),
)
_INDENT = 4
_SIDE = 7


def _cell(value: Any, width: int, digits: int, ratio: bool = False) -> str:
    if value is None:
        return "-".rjust(width)
    if ratio:
        return f"{value:.2f}".rjust(width)
    return f"{value:,.{digits}f}".rjust(width)


def _line(side: str, values: dict[str, Any] | None, ratio: bool = False, tail: str = "") -> str:
    cells = "".join(_cell((values or {}).get(key), w, d, ratio) for _h, key, w, d in _COLS)
    return f"{'':<{_INDENT}}{side:<{_SIDE}}{cells}{tail}".rstrip()


def _heading(r: dict[str, Any]) -> str:
    w = r["workload"]
    figures = r["reference"] or r["pyaoe"] or {}
    spf, frames = figures.get("sectors_per_frame"), figures.get("frames_per_io")
    size = f"{w['io_bytes'] // 1024} KiB" if w["io_bytes"] else "the largest frame"
    shape = ""
    if spf and w.get("reference"):  # the reference sent one frame per I/O; these split theirs
        frames = -(-w["io_bytes"] // 512 // spf)
    if spf and frames:
        per_frame = min(spf, w["io_bytes"] // 512) if w["io_bytes"] else spf
        shape = f" ({frames:.0f} frame{'s' if frames > 1 else ''} of {per_frame:.0f} sectors)"
    return f"{r['id']}: {w['pattern']} {w['mode']}, {size}{shape}, QD {w['queue_depth']}"


def _paired_cell(value: float | None) -> str:
    return "-".rjust(8) if value is None else f"{value:.2f}".rjust(8)


def format_summary(report: dict[str, Any]) -> list[str]:
    """The target rows in one table: IOPS of pyaoe, vblade and the no-op (aoenull), pyaoe over
    vblade and each target over the no-op (medians of the rounds' own ratios)."""
    head = f"{'row':<34}{'pyaoe':>10}{'vblade':>10}{'aoenull':>10}{'py/vb':>8}{'py/null':>8}{'vb/null':>8}"
    out = [head, "-" * len(head)]
    for r in report["rows"]:
        if r["kind"] not in ("target", "aoeblast") or not r.get("paired"):
            continue
        iops = [(r[side] or {}).get("iops") for side in ("pyaoe", "reference", "ceiling")]
        cells = "".join("-".rjust(10) if v is None else f"{v:,.0f}".rjust(10) for v in iops)
        p = r["paired"]
        ratios = "".join(_paired_cell(p[k]) for k in ("pyaoe_vblade", "pyaoe_null", "vblade_null"))
        out.append(f"{r['id']:<34}{cells}{ratios}")
    return out


def format_table(report: dict[str, Any]) -> str:
    header = f"{'':<{_INDENT}}{'':<{_SIDE}}" + "".join(h.rjust(w) for h, _k, w, _d in _COLS)
    out = [header, "-" * len(header)]
    names = {"target": ("pyaoe", "vblade"), "aoeblast": ("pyaoe", "vblade")}
    for r in report["rows"]:
        if r["status"] == "not available":
            out.append(f"{r['id']}: not available: {r['reason']}")
            continue
        if r["status"] == "error" and r["pyaoe"] is None and r["reference"] is None:
            out.append(f"{r['id']}: ERROR: {r['reason']}")
            continue
        mine, theirs = names.get(r["kind"], ("pyaoe", "aoeload"))
        out.append(_heading(r))
        out.append(_line(mine, r["pyaoe"]))
        out.append(_line(theirs, r["reference"]))
        status = "" if r["status"] == "ok" else f"  ERROR: {r['reason']}"
        out.append(_line("ratio", r["ratio"], ratio=True, tail=status))
        if r.get("metrics_on"):
            paired = r["metrics_ratio"]
            tail = f"  metrics on/off {paired:.3f}x (median of paired rounds)" if paired else ""
            out.append(_line("metrics", r["metrics_on"], tail=tail))
        if r["ceiling"]:
            head = r["headroom"]
            if r["kind"] in ("target", "aoeblast"):
                tail = f"  headroom {head:.2f}x" if head else ""
                if head is not None and head < HEADROOM_MIN and r["workload"]["queue_depth"] > 1:
                    tail += " (generator-bound?)"
                p = r["paired"] or {}
                if p.get("pyaoe_null") is not None and p.get("vblade_null") is not None:
                    tail += f"; of the no-op: pyaoe {p['pyaoe_null']:.2f}, vblade {p['vblade_null']:.2f}"
            else:
                tail = f"  no-op/pyaoe {head:.2f}x" if head else ""
            out.append(_line("no-op", r["ceiling"], tail=tail))
    summary = format_summary(report)
    if len(summary) > 2:
        out += ["", "Target rows, IOPS (medians); ratios are medians of each round's own ratio:", *summary]
    check = report["generator_check"]
    host = report["host"]
    tcpu, gcpu = report["options"]["target_cpu"], report["options"]["generator_cpu"]
    out += [
        "",
        "ratio = pyaoe / reference: above 1 is better for MB/s and IOPS, below 1 for latency, CPU and RSS.",
        "reference: vblade for target and aoeblast rows; for initiator rows, aoeload (C) against vblade;",
        "the -1m rows (1 MiB requests, 4 at a time) against its seq-read or seq-write row, by MB/s.",
        "tgt/ini: the target / the initiator-side process (the generator, or the pyaoe initiator).",
        "s/GB: its CPU seconds (utime+stime) per GB moved; %: share of one CPU it used; MiB: peak RSS",
        "(VmHWM). Medians of the rounds.",
        "no-op: the same load against aoenull, a responder that does no work; headroom = its IOPS over",
        "the row's best (at QD 1 it is the round trip's bound rather than the generator's). Initiator",
        "rows: no-op/pyaoe = the pyaoe initiator's rate against aoenull over its rate against vblade",
        "(near 1: the initiator, not the target, sets the pace). On veth the receiving end's kernel",
        "work runs on the sender's CPU, so each side's system time includes some of the other's.",
        f"Target on CPU {tcpu}, generator (or initiator and fio) on CPU {gcpu} (taskset).",
    ]
    if check["min_headroom"] is not None:
        verdict = (
            "not the bottleneck"
            if check["ok"]
            else "possibly the bottleneck in: " + ", ".join(check["rows_below"])
        )
        lowest = check["min_headroom"]
        out.append(f"generator: {verdict} (lowest headroom {lowest:.2f}x, threshold {check['threshold']}x).")
    out.append(f"load average before/after: {host['loadavg_start']} / {host['loadavg_end']}")
    return "\n".join(out)
