"""pyaoe.fuse.daemon: mount the initiator's file system at a directory and serve it until a signal
(or an unmount), then unmount: the body of `pyaoe initiator`.

The mount point is checked first (exists or can be made, is a directory, nothing mounted on it,
empty), so that mistakes are one line instead of a FUSE error.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import pyfuse3
import trio

from pyaoe.fuse.filesystem import EtherdFileSystem

__all__ = ["MountError", "prepare_mount_point", "serve", "SIGNALS", "MAX_TASKS"]

log = logging.getLogger("pyaoe.fuse")

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: How often the daemon checks that the initiator service still runs.
SERVICE_CHECK_INTERVAL = 1.0
#: Requests served at once (pyfuse3 workers): blocked err readers each hold one.
MAX_TASKS = 256


class MountError(Exception):
    """The mount point cannot be used; the message says why."""


def prepare_mount_point(root: Path) -> bool:
    """Check ``root`` and make it if missing (its parent must exist). True when it was made."""
    if root.is_symlink() and not root.exists():
        raise MountError(f"mount point {root} is a dangling symbolic link")
    if not root.exists():
        if not root.parent.is_dir():
            raise MountError(f"mount point {root}: its parent {root.parent} does not exist")
        try:
            root.mkdir()
        except OSError as exc:
            raise MountError(f"cannot make mount point {root}: {exc.strerror}") from None
        return True
    if not root.is_dir():
        raise MountError(f"mount point {root} is not a directory")
    if os.path.ismount(root):
        raise MountError(f"mount point {root} is busy: something is mounted there already")
    try:
        if any(os.scandir(root)):
            raise MountError(f"mount point {root} is not empty")
    except PermissionError:
        raise MountError(f"mount point {root} cannot be read") from None
    return False


def mount_options() -> set[str]:
    options = set(pyfuse3.default_options) | {"fsname=pyaoe", "subtype=aoe"}
    if os.geteuid() == 0:
        # Like /dev/etherd and /sys: every user sees the tree; file modes decide the rest.
        options.add("allow_other")
    return options


def serve(
    fs: EtherdFileSystem,
    root: Path,
    *,
    signals: Sequence[int] = SIGNALS,
    ready: Callable[[EtherdFileSystem], None] | None = None,
) -> int | None:
    """Mount ``fs`` at ``root`` (prepared) and serve until one of ``signals`` arrives (main
    thread only; pass () elsewhere and stop with ``stop_serving``) or the file system is
    unmounted. Unmounts before returning; returns the signal that ended it, or None.

    Make the EtherdFileSystem before starting its service, so it hears every event."""
    caught: list[int] = []
    # Until trio watches the signals, a signal only marks the run as over: dying now would
    # leave a dead mount behind.
    previous = {s: signal.signal(s, lambda signum, _frame: caught.append(signum)) for s in signals}
    try:
        pyfuse3.init(fs, str(root), mount_options())
    except RuntimeError as exc:
        _restore(previous)
        raise MountError(f"cannot mount {root}: {exc}") from None
    try:
        trio.run(_run, fs, signals, caught, ready)
    finally:
        _restore(previous)
        pyfuse3.close(unmount=True)
        log.info("unmounted %s", root)
    return caught[0] if caught else None


def _restore(
    previous: dict[int, signal.Handlers | Callable[[int, FrameType | None], Any] | int | None],
) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


def stop_serving(fs: EtherdFileSystem) -> None:
    """End serve() from the trio thread (or through trio.from_thread.run_sync)."""
    fs.stop()
    pyfuse3.terminate()


async def _run(
    fs: EtherdFileSystem,
    signals: Sequence[int],
    caught: list[int],
    ready: Callable[[EtherdFileSystem], None] | None,
) -> None:
    async with trio.open_nursery() as nursery:
        if signals:
            await nursery.start(_watch_signals, fs, signals, caught)
        await fs.start(nursery)
        nursery.start_soon(_watch_service, fs)
        log.info("serving the AoE initiator's tree")
        if ready is not None:
            ready(fs)
        await pyfuse3.main(max_tasks=MAX_TASKS)
        fs.stop()
        nursery.cancel_scope.cancel()


async def _watch_service(fs: EtherdFileSystem) -> None:
    """Unmount when the service's I/O thread is gone: a tree nobody feeds would only hang."""
    while getattr(fs.service, "running", True):
        await trio.sleep(SERVICE_CHECK_INTERVAL)
    log.error("the initiator service stopped: unmounting")
    stop_serving(fs)


async def _watch_signals(
    fs: EtherdFileSystem, signals: Sequence[int], caught: list[int], task_status: trio.TaskStatus[None]
) -> None:
    with trio.open_signal_receiver(*signals) as receiver:
        task_status.started()
        if not caught:
            async for signum in receiver:
                caught.append(signum)
                break
    log.info("%s: unmounting", signal.Signals(caught[0]).name)
    stop_serving(fs)
