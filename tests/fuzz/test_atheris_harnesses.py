"""The atheris harnesses run: a short libFuzzer campaign of each ends with no finding.

Longer campaigns: `.venv/bin/python tests/fuzz/atheris_target.py -max_total_time=600 CORPUS_DIR`
(and atheris_initiator.py); PYAOE_FUZZ_EXAMPLES sets the runs here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .strategies import examples

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(600)  # above the campaign's own 300 s limit
@pytest.mark.parametrize("harness", ["atheris_target.py", "atheris_initiator.py"])
def test_a_short_campaign_finds_nothing(harness: str, tmp_path: Path) -> None:
    runs = examples(3000)
    proc = subprocess.run(
        [sys.executable, str(HERE / harness), f"-runs={runs}", "-seed=1", "-max_len=2048"],
        cwd=tmp_path,  # where libFuzzer would leave a crash-* file
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Done {runs} runs" in proc.stderr
    assert not list(tmp_path.iterdir()), "libFuzzer left a finding"
