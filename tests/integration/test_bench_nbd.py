"""`pyaoe bench --only-nbd --smoke`: the NBD and copy rows are measured, each a pair of positive
figures and a ratio, and printed in their table. No speed is asserted (benchmarks judge that)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyaoe.bench.nbd import NBD_ROWS

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(600)]


def test_nbd_rows_are_measured(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "pyaoe", "bench", "--only-nbd", "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["rows"] == []
    rows = {r["id"]: r for r in report["nbd_rows"]}
    assert set(rows) == {rid for rid, *_ in NBD_ROWS}
    for rid, row in rows.items():
        assert row["status"] == "ok", (rid, row["reason"])
        assert row["pyaoe_mbps"] > 0 and row["reference_mbps"] > 0, row
        assert row["ratio"] > 0 and row["goal_ratio"] in (0.5, 0.8, 0.9)
        assert rid in done.stdout
    assert "NBD and copy rows" in done.stdout
