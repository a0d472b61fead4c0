"""NBD servers for tests: pyaoe's server over memory in a thread, `pyaoe nbd`, qemu-nbd and nbdkit as
processes; each waits until it answers (nbdinfo) and is stopped afterwards, even on failure.

    with memory_server(tmp_path / "s.sock", {"disk": 1 << 20}) as served:
        subprocess.run(["nbdinfo", served.uri("disk")])
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyaoe.lab.netns import Lab
from pyaoe.lab.procs import read_lines
from pyaoe.nbd.server import BASE_FLAGS, NbdServer
from pyaoe.protocol.nbd.options import ExportInfo
from pyaoe.protocol.nbd.wire import TransmissionFlag
from support.wait import wait_until

__all__ = [
    "MemoryDisk",
    "MemoryProvider",
    "ServedMemory",
    "memory_server",
    "wait_for_nbd",
    "NbdProcess",
    "qemu_nbd",
    "nbdkit",
    "pyaoe_nbd",
    "unix_uri",
]


def unix_uri(socket_path: Path | str, export: str = "") -> str:
    return f"nbd+unix:///{export}?socket={socket_path}"


@dataclass
class MemoryDisk:
    """An export held in a bytearray; ``gate`` holds requests while cleared."""

    info: ExportInfo
    data: bytearray
    gate: threading.Event
    flushes: list[int] = field(default_factory=list)

    async def _wait(self) -> None:
        while not self.gate.is_set():
            await asyncio.sleep(0.01)

    async def read(self, offset: int, length: int) -> bytes:
        await self._wait()
        return bytes(self.data[offset : offset + length])

    async def write(self, offset: int, data: bytes) -> None:
        await self._wait()
        self.data[offset : offset + len(data)] = data

    async def flush(self) -> None:
        await self._wait()
        self.flushes.append(1)


class MemoryProvider:
    """Exports named by the test, each a MemoryDisk (shared by every connection to it)."""

    def __init__(self, sizes: dict[str, int], readonly: Sequence[str] = ()) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.disks: dict[str, MemoryDisk] = {}
        for name, size in sizes.items():
            flags = BASE_FLAGS | TransmissionFlag.CAN_MULTI_CONN
            if name in readonly:
                flags |= TransmissionFlag.READ_ONLY
            info = ExportInfo(name, size, flags, 512, 4096, 32 << 20, f"memory {name}")
            self.disks[name] = MemoryDisk(info, bytearray(size), self.gate)

    async def list_exports(self) -> list[tuple[str, str]]:
        return [(name, disk.info.description) for name, disk in self.disks.items()]

    async def open_export(self, name: str) -> MemoryDisk | None:
        disk = self.disks.get(name)
        return MemoryDisk(disk.info, disk.data, disk.gate, disk.flushes) if disk is not None else None


@dataclass
class ServedMemory:
    provider: MemoryProvider
    server: NbdServer
    path: Path

    def uri(self, export: str) -> str:
        return unix_uri(self.path, export)


@contextlib.contextmanager
def memory_server(path: Path, sizes: dict[str, int], readonly: Sequence[str] = ()) -> Iterator[ServedMemory]:
    """pyaoe's NBD server over memory exports, on a unix socket, in a thread of this process."""
    provider = MemoryProvider(sizes, readonly)
    server = NbdServer(provider)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.listen_unix(str(path)))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="nbd-server", daemon=True)
    thread.start()
    try:
        if not ready.wait(10):
            raise AssertionError("the NBD server did not start")
        yield ServedMemory(provider, server, path)
    finally:
        provider.gate.set()
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def wait_for_nbd(uri: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20.0) -> None:
    """Return once ``uri`` answers nbdinfo; fail if ``proc`` exits first or time runs out."""

    def answers() -> bool:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the NBD server exited ({proc.returncode}) before answering {uri}")
        return (
            subprocess.run(["nbdinfo", "--size", uri], capture_output=True, timeout=timeout).returncode == 0
        )

    wait_until(answers, timeout, f"{uri} to answer")


@dataclass
class NbdProcess:
    proc: subprocess.Popen[bytes]
    socket: Path
    stderr_path: Path
    export: str = ""

    @property
    def uri(self) -> str:
        return unix_uri(self.socket, self.export)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.proc.args} ignored SIGTERM:\n{self.stderr()}") from None


@contextlib.contextmanager
def _process(
    lab: Lab, netns: str | None, argv: Sequence[str], socket: Path, export: str, wait: str | None = None
) -> Iterator[NbdProcess]:
    err = tempfile.NamedTemporaryFile(prefix="pyaoe-nbd-", suffix=".err", delete=False)  # noqa: SIM115
    try:
        proc = lab.popen(netns, argv, stderr=err, stdout=subprocess.PIPE)
    finally:
        err.close()
    served = NbdProcess(proc, socket, Path(err.name), export)
    try:
        if wait is not None:
            lines = read_lines(proc, 1, time.monotonic() + 30)
            if not any(wait in line for line in lines):
                raise AssertionError(f"{' '.join(argv)} printed {lines!r}:\n{served.stderr()}")
        else:
            wait_for_nbd(unix_uri(socket, export), proc)
        yield served
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        Path(err.name).unlink(missing_ok=True)


def qemu_nbd(
    lab: Lab, socket: Path, image: Path, fmt: str = "raw", export: str = "disk", *options: str
) -> contextlib.AbstractContextManager[NbdProcess]:
    """qemu-nbd serving ``image`` on a unix socket, several clients allowed (-e 8), persistent (-t:
    without it qemu-nbd exits when its first client leaves)."""
    argv = ["qemu-nbd", "-t", "-f", fmt, "-k", str(socket), "-x", export, "-e", "8", *options, str(image)]
    return _process(lab, None, argv, socket, export)


def nbdkit(
    lab: Lab, socket: Path, plugin: str, *args: str, export: str = ""
) -> contextlib.AbstractContextManager[NbdProcess]:
    """nbdkit in the foreground on a unix socket: ``nbdkit -f -U SOCKET [--filter=..] PLUGIN ARGS``."""
    return _process(lab, None, ["nbdkit", "-f", "-U", str(socket), plugin, *args], socket, export)


def pyaoe_nbd(
    lab: Lab, iflist: str, socket: Path, *options: str
) -> contextlib.AbstractContextManager[NbdProcess]:
    """`pyaoe nbd` in the root namespace, once it says it serves."""
    env_argv = [
        sys.executable,
        "-m",
        "pyaoe",
        "nbd",
        "--iflist",
        iflist,
        "--socket",
        str(socket),
        "-v",
        *options,
    ]
    return _process(lab, None, env_argv, socket, "", wait="serving AoE devices")
