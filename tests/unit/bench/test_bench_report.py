"""pyaoe.bench's pure pieces: rows from samples (medians, ratios, headroom, missing rows), the
table, fio's report, the plan, and the initiator-api load loop against an in-memory client."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from pyaoe.bench.initiator import parse_fio
from pyaoe.bench.initiator_load import run_load
from pyaoe.bench.load import LoadError, Sample, sample_from
from pyaoe.bench.plan import Setup, row_id, setups_for, smoke_options, workloads_named
from pyaoe.bench.report import build_report, format_table
from pyaoe.bench.runner import Measurements


def sample(iops: float, p50: float = 100.0, cpu: float = 1.0) -> Sample:
    return sample_from(
        mbps=iops * 4096 / 1e6, iops=iops, p50_us=p50, p99_us=p50 * 3,
        target_cpu_s=cpu, target_bytes=1e9, target_rss_kib=2048,
        initiator_cpu_s=cpu / 2, initiator_bytes=1e9, initiator_rss_kib=1024,
        retransmits=0, errors=0, sectors_per_frame=2, frames_per_io=4, io_bytes=4096,
    )  # fmt: skip


OPTIONS = smoke_options(mtus=(1500,), direct_mtu=None, workloads=workloads_named(["rand-read-qd32"]))
RID = "mtu1500-cache/rand-read-qd32"


def report_of(m: Measurements) -> dict:
    return build_report(OPTIONS, m, 1.0, ["pyaoe", "bench"])


def test_rows_take_medians_ratios_and_headroom() -> None:
    m = Measurements()
    for iops in (100.0, 300.0, 200.0):
        m.add(RID, "pyaoe", sample(iops))
    for iops in (400.0, 410.0, 390.0):
        m.add(RID, "vblade", sample(iops, p50=50.0))
    m.add(RID, "null", sample(1000.0))
    row = {r["id"]: r for r in report_of(m)["rows"]}[RID]
    assert row["status"] == "ok"
    assert row["pyaoe"]["iops"] == 200.0 and row["reference"]["iops"] == 400.0
    assert row["ratio"]["iops"] == pytest.approx(0.5)
    assert row["ratio"]["p50_us"] == pytest.approx(2.0)
    assert row["pyaoe"]["target_cpu_s_per_gb"] == pytest.approx(1.0)
    assert row["headroom"] == pytest.approx(2.5)
    assert len(row["rounds"]["pyaoe"]) == 3


def test_target_rows_give_each_target_as_a_fraction_of_the_no_op_round_by_round() -> None:
    m = Measurements()
    # Round 2 ran on a slower machine for everyone: paired ratios cancel that.
    for mine, theirs, null in ((100.0, 200.0, 400.0), (50.0, 100.0, 200.0), (120.0, 200.0, 480.0)):
        m.add(RID, "pyaoe", sample(mine))
        m.add(RID, "vblade", sample(theirs))
        m.add(RID, "null", sample(null))
    report = report_of(m)
    row = {r["id"]: r for r in report["rows"]}[RID]
    assert row["paired"]["pyaoe_vblade"] == pytest.approx(0.5)
    assert row["paired"]["pyaoe_null"] == pytest.approx(0.25)
    assert row["paired"]["vblade_null"] == pytest.approx(0.5)
    table = format_table(report)
    assert "of the no-op: pyaoe 0.25, vblade 0.50" in table
    line = next(t for t in table.splitlines() if t.startswith(RID + " "))
    assert line.split()[1:] == ["100", "200", "400", "0.50", "0.25", "0.50"]


def test_a_target_row_without_a_no_op_run_says_so() -> None:
    m = Measurements()
    m.add(RID, "pyaoe", sample(100.0))
    m.add(RID, "vblade", sample(200.0))
    row = {r["id"]: r for r in report_of(m)["rows"]}[RID]
    assert row["paired"]["pyaoe_null"] is None and row["paired"]["pyaoe_vblade"] == pytest.approx(0.5)


def test_a_generator_as_slow_as_a_target_is_flagged() -> None:
    m = Measurements()
    m.add(RID, "pyaoe", sample(100.0))
    m.add(RID, "vblade", sample(1000.0))
    m.add(RID, "null", sample(1020.0))
    report = report_of(m)
    assert report["generator_check"]["rows_below"] == [RID]
    assert not report["generator_check"]["ok"]
    assert "(generator-bound?)" in format_table(report)


def test_initiator_rows_compare_with_the_c_generator_against_vblade() -> None:
    m = Measurements()
    m.add(RID, "pyaoe", sample(100.0))
    m.add(RID, "vblade", sample(400.0))
    api = row_id(Setup(1500), workloads_named(["rand-read-qd32"])[0], "initiator-api")
    m.add(api, "pyaoe", sample(40.0))
    fuse = row_id(Setup(1500), workloads_named(["rand-read-qd32"])[0], "initiator-fuse")
    m.unavailable[fuse] = "`pyaoe initiator` does not exist yet"
    rows = {r["id"]: r for r in report_of(m)["rows"]}
    assert rows[api]["status"] == "ok" and rows[api]["ratio"]["iops"] == pytest.approx(0.1)
    assert rows[fuse]["status"] == "not available"
    table = format_table(report_of(m))
    assert f"{fuse}: not available: `pyaoe initiator` does not exist yet" in table


def test_a_failed_row_says_why_in_the_table_and_json() -> None:
    m = Measurements()
    m.add(RID, "vblade", sample(400.0))
    m.fail(RID, "pyaoe", "aoeload: no I/O completed")
    report = report_of(m)
    row = {r["id"]: r for r in report["rows"]}[RID]
    assert row["status"] == "error" and "no I/O completed" in row["reason"]
    assert "ERROR: pyaoe: aoeload: no I/O completed" in format_table(report)
    json.dumps(report)  # the report is plain JSON


def test_fio_report_parsing() -> None:
    doc = {
        "jobs": [
            {
                "error": 0,
                "read": {
                    "iops": 1234.5,
                    "bw_bytes": 5_000_000,
                    "io_bytes": 10_000_000,
                    "clat_ns": {"percentile": {"50.000000": 81000, "99.000000": 250000}},
                },
            }
        ]
    }
    figures = parse_fio("fio: note\n" + json.dumps(doc), "read")
    assert figures == {
        "iops": 1234.5,
        "mbps": 5.0,
        "p50_us": 81.0,
        "p99_us": 250.0,
        "errors": 0.0,
        "bytes": 1e7,
    }
    with pytest.raises(LoadError):
        parse_fio("no json here", "read")


def test_plan() -> None:
    names = [s.name for s in setups_for(smoke_options())]
    assert names == ["mtu1500-cache", "mtu9000-cache", "mtu9000-direct"]
    with pytest.raises(ValueError, match="unknown workload 'nope'"):
        workloads_named(["nope"])


class MemoryClient:
    """A thread-safe in-memory BlockClient, recording what was asked."""

    def __init__(self, size: int, fail_every: int = 0) -> None:
        self.size = size
        self.data = bytearray(size)
        self.offsets: list[int] = []
        self.lock = threading.Lock()
        self.fail_every = fail_every

    def read(self, offset: int, length: int) -> bytes:
        with self.lock:
            self.offsets.append(offset)
            if self.fail_every and len(self.offsets) % self.fail_every == 0:
                raise OSError(5, "I/O error")
            return bytes(self.data[offset : offset + length])

    def write(self, offset: int, data: bytes) -> None:
        with self.lock:
            self.offsets.append(offset)
            self.data[offset : offset + len(data)] = data

    def close(self) -> None:
        pass


class FutureMemoryClient(MemoryClient):
    """The same, with pyaoe BlockClient's futures: completed at once, or by another thread."""

    def __init__(self, size: int, fail_every: int = 0, threaded: bool = False) -> None:
        super().__init__(size, fail_every)
        self.pool = ThreadPoolExecutor(2) if threaded else None
        self.in_flight = 0
        self.most_in_flight = 0

    def _run(self, call: Callable[[], Any]) -> Future[Any]:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

        def body() -> Any:
            try:
                return call()
            finally:
                with self.lock:
                    self.in_flight -= 1

        if self.pool is not None:
            return self.pool.submit(body)
        future: Future[Any] = Future()
        try:
            future.set_result(body())
        except OSError as exc:
            future.set_exception(exc)
        return future

    def submit_read(self, offset: int, length: int) -> Future[bytes]:
        return self._run(lambda: self.read(offset, length))

    def submit_write(self, offset: int, data: bytes) -> Future[None]:
        return self._run(lambda: self.write(offset, data))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


@pytest.mark.parametrize(
    "client",
    [MemoryClient(1 << 20), FutureMemoryClient(1 << 20), FutureMemoryClient(1 << 20, threaded=True)],
    ids=["threads", "futures-done-at-once", "futures-from-a-pool"],
)
def test_initiator_load_drives_blocking_and_future_clients(client: MemoryClient) -> None:
    result = run_load(
        client, mode="read", pattern="seq", io_bytes=512, queue_depth=3, seconds=0.2, warmup=0.0
    )
    client.close()
    assert result["ok"] and result["errors"] == 0 and result["ios"] > 100
    # Sequential: every block in turn from 0 on, wrapping round the 2048 blocks, so no block is
    # read twice more often than another.
    counts = Counter(client.offsets)
    assert set(counts) <= {512 * i for i in range(2048)}
    rounds = len(client.offsets) // 2048
    assert all(rounds - 1 <= counts[512 * i] <= rounds + 1 for i in range(2048))
    if isinstance(client, FutureMemoryClient):
        assert client.in_flight == 0
        assert client.most_in_flight <= 3


def test_future_errors_are_counted_and_the_chain_goes_on() -> None:
    client = FutureMemoryClient(1 << 20, fail_every=4, threaded=True)
    result = run_load(
        client, mode="read", pattern="rand", io_bytes=4096, queue_depth=2, seconds=0.1, warmup=0.0
    )
    client.close()
    assert result["errors"] > 0 and result["ios"] > result["errors"]  # one in four fails, the rest go on


@pytest.mark.parametrize("pattern", ["seq", "rand"])
def test_initiator_load_keeps_the_queue_and_reports_like_aoeload(pattern: str) -> None:
    client = MemoryClient(1 << 20)
    result = run_load(
        client, mode="write", pattern=pattern, io_bytes=4096, queue_depth=4, seconds=0.2, warmup=0.05
    )
    assert result["ok"] and result["ios"] > 0 and result["errors"] == 0
    assert 0 < result["p50_us"] <= result["p99_us"]
    assert result["bytes"] == result["ios"] * 4096 <= result["total_bytes"]
    assert result["vmhwm_kib"] > 0 and result["cpu_s"] >= 0
    assert all(o % 4096 == 0 and o + 4096 <= client.size for o in client.offsets)
    assert client.data[:4096] != bytes(4096) or pattern == "rand"


def test_initiator_load_counts_errors() -> None:
    client = MemoryClient(1 << 20, fail_every=3)
    result = run_load(
        client, mode="read", pattern="rand", io_bytes=4096, queue_depth=2, seconds=0.1, warmup=0.0
    )
    assert result["errors"] > 0 and result["ios"] > 0
    with pytest.raises(ValueError, match="bad I/O size"):
        run_load(client, mode="read", pattern="seq", io_bytes=1000, queue_depth=1, seconds=0.1, warmup=0.0)
