"""The target fast path's loop in C (fastloop.c), measured as the "c-loop" lever of
benchmarks/target_levers.py and not kept: built here on demand, never shipped.

NativeFastPath has FastPath's face (answer_batch, refresh) and answers with the C loop when every
export of the port is on a plain file descriptor, with FastPath otherwise. fastloop.c does what
FastPath.answer_batch does, frame for frame (the same checks, runs, replies and counters).
Building needs a C compiler and Python's headers (Debian: gcc, python3-dev).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sysconfig
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from pyaoe.protocol import Command
from pyaoe.protocol.layout import address_word
from pyaoe.storage.file import FileBackend
from pyaoe.target import Export, TargetEngine
from pyaoe.target.fastpath import NOT_HANDLED, FastPath

__all__ = ["NativeFastPath", "build_loop"]

SOURCE = Path(__file__).resolve().with_name("fastloop.c")


def build_loop() -> ModuleType:
    """Compile fastloop.c (cc -O2 -shared) into a temporary directory and import it (the
    directory is removed once the module is loaded: the mapping outlives the file)."""
    name = "_fastloop" + sysconfig.get_config_var("EXT_SUFFIX")
    with tempfile.TemporaryDirectory(prefix="pyaoe-fastloop-") as tmp:
        out = Path(tmp) / name
        include = sysconfig.get_paths()["include"]
        cc = os.environ.get("CC", "cc")
        argv = [cc, "-O2", "-shared", "-fPIC", f"-I{include}", "-o", str(out), str(SOURCE)]
        subprocess.run(argv, check=True)
        spec = importlib.util.spec_from_file_location("_fastloop", out)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def _on_plain_fd(export: Export) -> bool:
    backend = export.backend
    return type(backend) is FileBackend and not backend.direct


class NativeFastPath:
    """FastPath's face for one port's engine, by the C loop ``loop`` where it applies."""

    loop: ModuleType | None = None

    def __init__(self, engine: TargetEngine) -> None:
        self._engine = engine
        self._python = FastPath(engine)
        self._exports: list[Export] = []
        self._table: tuple[tuple[int, int, int, int, bool, object], ...] = ()
        self.answer_batch: Callable[[Sequence[memoryview], Sequence[int]], list[int]] = (
            self._python.answer_batch
        )
        self.refresh()

    def refresh(self) -> None:
        """Call after adding or removing exports on the engine."""
        self._python.refresh()
        exports = self._engine.exports
        if self.loop is None or not exports or not all(_on_plain_fd(e) for e in exports):
            self.answer_batch = self._python.answer_batch
            return
        self._exports = exports
        self._table = tuple(
            (
                address_word(e.config.shelf, e.config.slot, Command.ATA),
                e.backend.fd,  # type: ignore[attr-defined]
                e.backend._base,  # type: ignore[attr-defined]
                e.sectors,
                e.backend.readonly,
                e.state,
            )
            for e in exports
        )
        self.answer_batch = self._answer_native

    def _answer_native(self, buffers: Sequence[memoryview], lengths: Sequence[int]) -> list[int]:
        replies = [NOT_HANDLED] * len(lengths)
        engine = self._engine
        assert self.loop is not None
        moved = self.loop.answer(buffers, lengths, replies, engine.mac, engine.max_sectors, self._table)
        for index, reads, sectors_read, writes, sectors_written in moved:
            counters = self._exports[index].counters
            counters.reads += reads
            counters.sectors_read += sectors_read
            counters.writes += writes
            counters.sectors_written += sectors_written
        return replies
