"""pyaoe.bench.tools: the benchmark's C programs (aoeload, aoenull, aoeblast), built with gcc on
first use into a cache directory and reused while their source is unchanged.

The sources ship inside the package (pyaoe/bench/c/), so `pyaoe bench` works from an install too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["BenchTools", "ToolError", "build_tools", "default_cache_dir", "TOOL_NAMES"]

log = logging.getLogger(__name__)

TOOL_NAMES = ("aoeload", "aoenull", "aoeblast")
_CFLAGS = ("-O2", "-Wall")


class ToolError(RuntimeError):
    """A C tool could not be built (no compiler, or the build failed)."""


@dataclass(frozen=True, slots=True)
class BenchTools:
    aoeload: Path
    aoenull: Path
    aoeblast: Path


def default_cache_dir() -> Path:
    """Where pyaoe keeps what it builds once ($XDG_CACHE_HOME/pyaoe, else ~/.cache/pyaoe)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyaoe"


def _source(name: str) -> bytes:
    return resources.files("pyaoe.bench").joinpath("c", f"{name}.c").read_bytes()


def _build_one(name: str, cache: Path, cc: str) -> Path:
    source = _source(name)
    digest = hashlib.sha256(source + " ".join((cc, *_CFLAGS)).encode()).hexdigest()[:16]
    binary = cache / f"{name}-{digest}"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    src = cache / f"{name}-{digest}.c"
    src.write_bytes(source)
    # Build under a temporary name and rename: a concurrent run never sees half a binary.
    tmp = cache / f".{name}-{digest}.{os.getpid()}"
    result = subprocess.run([cc, *_CFLAGS, "-o", str(tmp), str(src)], capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        first = (result.stderr.strip().splitlines() or ["no message"])[0]
        raise ToolError(f"cannot build {name}: {first}")
    tmp.replace(binary)
    log.info("built %s", binary)
    return binary


def build_tools(cache_dir: Path | str | None = None) -> BenchTools:
    """Compile (or reuse) the three tools; ToolError when gcc is missing or a build fails."""
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise ToolError("no C compiler (gcc) found; scripts/setup.sh installs it")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "bench"
    built = {name: _build_one(name, cache, cc) for name in TOOL_NAMES}
    return BenchTools(**built)
