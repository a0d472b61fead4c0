"""`pyaoe bench --smoke` as a user runs it: it builds its namespaces and C tools, measures every
row once, prints the table and writes JSON with every row and sane figures. No timing asserted:
the figures only have to exist, be positive where they must, and describe the frames the issue asks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyaoe.bench.initiator import fio_argv, parse_fio
from pyaoe.bench.plan import INITIATOR_WORKLOADS, WORKLOADS

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(600)]

SETUPS = ("mtu1500-cache", "mtu9000-cache", "mtu9000-direct")
CACHE_SETUPS = ("mtu1500-cache", "mtu9000-cache")


@pytest.fixture(scope="module")
def smoke(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pyaoe", "bench", "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, f"pyaoe bench --smoke failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc, json.loads(Path(out).read_text())


def rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in report["rows"]}


def test_every_row_is_there(smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    _proc, report = smoke
    expected = {f"{s}/{w.name}" for s in SETUPS for w in WORKLOADS}
    expected |= {f"{s}/{w}@aoeblast" for s in SETUPS for w in ("seq-read", "seq-write")}
    expected |= {
        f"{s}/{w.name}@{k}"
        for s in CACHE_SETUPS
        for w in WORKLOADS + INITIATOR_WORKLOADS
        for k in ("initiator-api", "initiator-fuse")
    }
    assert set(rows(report)) == expected


def test_target_rows_have_sane_figures(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _proc, report = smoke
    cpu_total = 0.0
    for rid, row in rows(report).items():
        if row["kind"] not in ("target", "aoeblast"):
            continue
        assert row["status"] == "ok", f"{rid}: {row['reason']}"
        for side in ("pyaoe", "reference", "ceiling"):
            figures = row[side]
            assert figures["mbps"] > 0 and figures["iops"] > 0, (rid, side, figures)
            assert figures["errors"] == 0, (rid, side)
            assert figures["target_rss_mib"] > 0 and figures["initiator_rss_mib"] > 0, (rid, side)
            assert figures["target_cpu_s_per_gb"] >= 0 and figures["initiator_cpu_s_per_gb"] >= 0, (rid, side)
            cpu_total += figures["target_cpu_s_per_gb"] + figures["initiator_cpu_s_per_gb"]
            if row["kind"] == "target":  # aoeload measures latency; aoeblast does not
                assert 0 < figures["p50_us"] <= figures["p99_us"], (rid, side)
        assert row["ratio"]["iops"] == pytest.approx(row["pyaoe"]["iops"] / row["reference"]["iops"])
        assert row["headroom"] > 0
        # Every target row also as a fraction of the no-op responder on the same wire (issue 11).
        for key in ("pyaoe_vblade", "pyaoe_null", "vblade_null"):
            assert row["paired"][key] > 0, (rid, key)
    assert cpu_total > 0, "no process was ever seen using CPU"


def test_frames_are_the_largest_the_mtu_allows(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    by_id = rows(smoke[1])
    # Random 4 KiB: 4 frames of 2 sectors at MTU 1500, one frame (of 8) at MTU 9000.
    assert by_id["mtu1500-cache/rand-read-qd32"]["reference"]["frames_per_io"] == 4
    assert by_id["mtu1500-cache/rand-read-qd32"]["reference"]["sectors_per_frame"] == 2
    assert by_id["mtu9000-cache/rand-write-qd1"]["reference"]["frames_per_io"] == 1
    # Sequential: one frame of the largest sector count, (9000 - 36) // 512 = 17 with jumbo frames.
    assert by_id["mtu9000-direct/seq-read"]["pyaoe"]["io_bytes"] == 17 * 512
    assert by_id["mtu1500-cache/seq-write"]["pyaoe"]["io_bytes"] == 2 * 512


def test_initiator_rows_are_measured_or_say_why_not(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    proc, report = smoke
    for rid, row in rows(report).items():
        if not row["kind"].startswith("initiator"):
            continue
        if row["status"] == "not available":
            assert row["reason"], rid
            assert f"{rid}: not available: {row['reason']}" in proc.stdout
        else:
            assert row["status"] == "ok", f"{rid}: {row['reason']}"
            assert row["pyaoe"]["iops"] > 0 and row["reference"]["iops"] > 0, rid
            if rid.split("@")[0].endswith("-1m"):
                # 1 MiB requests set beside the one-frame seq row by MB/s only.
                seq = rows(report)[rid.split("@")[0].removesuffix("-1m")]
                assert row["reference"] == seq["reference"], rid
                same_units = {"mbps", "target_cpu_s_per_gb", "initiator_cpu_s_per_gb", "target_rss_mib"}
                assert "mbps" in row["ratio"] and set(row["ratio"]) <= same_units | {"initiator_rss_mib"}, rid
                assert row["pyaoe"]["io_bytes"] == 1 << 20, rid


def test_the_table_shows_ratios_and_the_generator_check(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    proc, report = smoke
    assert "mtu1500-cache/seq-read: seq read" in proc.stdout
    assert proc.stdout.count("    ratio ") >= len(SETUPS) * len(WORKLOADS)
    assert "generator: " in proc.stdout
    # The summary: every target row with pyaoe, vblade and aoenull and the three ratios measured.
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("row "))
    assert lines[start].split() == ["row", "pyaoe", "vblade", "aoenull", "py/vb", "py/null", "vb/null"]
    summary = lines[start + 2 : lines.index("", start)]
    target_rows = [r["id"] for r in report["rows"] if r["kind"] in ("target", "aoeblast")]
    assert [line.split()[0] for line in summary] == target_rows
    assert all(len(line.split()) == 7 and "-" not in line.split()[1:] for line in summary), summary
    check = report["generator_check"]
    assert check["min_headroom"] > 0 and isinstance(check["ok"], bool)


def test_fio_as_the_fuse_rows_run_it(tmp_path: Path) -> None:
    """The FUSE rows' fio command and report parsing, on a plain file (the initiator's FUSE file
    takes its place once `pyaoe initiator` exists)."""
    device = tmp_path / "device.img"
    device.write_bytes(bytes(8 << 20))
    workload = next(w for w in WORKLOADS if w.name == "rand-read-qd32")
    argv = fio_argv(device, workload, 4096, 8 << 20, 0.3)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    figures = parse_fio(proc.stdout, "read")
    assert figures["iops"] > 0 and figures["bytes"] > 0 and figures["errors"] == 0
    assert 0 < figures["p50_us"] <= figures["p99_us"]


STAND_IN = '''
"""A stand-in for the initiator's library client: an in-memory device."""
import threading


class Client:
    def __init__(self, size):
        self.size = size
        self._data = bytearray(size)
        self._lock = threading.Lock()

    def read(self, offset, length):
        with self._lock:
            return bytes(self._data[offset : offset + length])

    def write(self, offset, data):
        with self._lock:
            self._data[offset : offset + len(data)] = data

    def close(self):
        pass


def open_block_client(iflist, shelf, slot, timeout):
    assert iflist and shelf == 1 and slot == 1
    return Client(64 << 20)
'''


def test_initiator_api_rows_fill_in_once_a_client_exists(tmp_path: Path) -> None:
    """The hook's plumbing: with a client behind PYAOE_BENCH_CLIENT the initiator-api rows are
    measured in their own process and compared with aoeload against vblade."""
    (tmp_path / "bench_stand_in.py").write_text(STAND_IN)
    out = tmp_path / "bench.json"
    env = {
        **os.environ,
        "PYAOE_BENCH_CLIENT": "bench_stand_in:open_block_client",
        "PYTHONPATH": str(tmp_path),
    }
    argv = [sys.executable, "-m", "pyaoe", "bench", "--smoke", "--mtu", "1500", "--direct-mtu", "0"]
    argv += ["--workloads", "rand-read-qd1,seq-write", "--no-aoeblast", "--json", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    by_id = rows(json.loads(out.read_text()))
    for rid in ("mtu1500-cache/rand-read-qd1@initiator-api", "mtu1500-cache/seq-write@initiator-api"):
        row = by_id[rid]
        assert row["status"] == "ok", row["reason"]
        assert row["pyaoe"]["iops"] > 0 and row["pyaoe"]["initiator_rss_mib"] > 0
        assert row["reference"] == by_id[rid.split("@")[0]]["reference"]
        assert row["ratio"]["iops"] > 0
    # Sequential rows use the frame size the generator found: 2 sectors at MTU 1500.
    assert by_id["mtu1500-cache/seq-write@initiator-api"]["pyaoe"]["io_bytes"] == 1024
