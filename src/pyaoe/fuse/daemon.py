"""pyaoe.fuse.daemon: mount the initiator's file system at a directory and serve it until SIGTERM
or SIGINT (or an unmount), let the requests in flight finish, then unmount: the body of `pyaoe
initiator`. SIGHUP never stops it.

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

__all__ = ["MountError", "prepare_mount_point", "serve", "SIGNALS", "STOP_SIGNALS", "MAX_TASKS"]

log = logging.getLogger("pyaoe.fuse")

#: Signals that end serve(); SIGHUP calls its ``hangup`` instead.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SIGNALS = (*STOP_SIGNALS, signal.SIGHUP)
#: Longest wait, once the requests in flight are done, for their answers to reach the kernel.
_REPLY_WAIT = 1.0
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


class _Signals:
    """What serve() does with signals: which end it, what SIGHUP and the end call, and what came."""

    def __init__(
        self,
        handled: Sequence[int],
        hangup: Callable[[], None] | None,
        drain: Callable[[], None] | None,
    ) -> None:
        self.handled = tuple(handled)
        self.hangup = hangup
        self.drain = drain
        #: The stop signal that came (at most the first counts), and SIGHUPs not yet acted on.
        self.caught: list[int] = []
        self.hangups = 0

    def early(self, signum: int, _frame: FrameType | None) -> None:
        # Until trio watches, a stop signal only marks the run as over (dying now would leave a
        # dead mount behind), and a SIGHUP waits for trio.
        if signum in STOP_SIGNALS:
            self.caught.append(signum)
        else:
            self.hangups += 1


def serve(
    fs: EtherdFileSystem,
    root: Path,
    *,
    signals: Sequence[int] = SIGNALS,
    ready: Callable[[EtherdFileSystem], None] | None = None,
    hangup: Callable[[], None] | None = None,
    drain: Callable[[], None] | None = None,
) -> int | None:
    """Mount ``fs`` at ``root`` (prepared) and serve until SIGTERM or SIGINT arrives (when in
    ``signals``: main thread only; pass () elsewhere and stop with ``stop_serving``) or the file
    system is unmounted. SIGHUP calls ``hangup()``, and serving goes on. A stop signal calls
    ``drain()`` first (in a worker thread: it lets the requests in flight finish), and waits for
    their answers to reach the kernel. Unmounts before returning; returns the signal that ended
    it, or None.

    Make the EtherdFileSystem before starting its service, so it hears every event."""
    how = _Signals(signals, hangup, drain)
    previous = {s: signal.signal(s, how.early) for s in signals}
    try:
        pyfuse3.init(fs, str(root), mount_options())
    except RuntimeError as exc:
        _restore(previous)
        raise MountError(f"cannot mount {root}: {exc}") from None
    try:
        trio.run(_run, fs, how, ready)
    finally:
        _restore(previous)
        pyfuse3.close(unmount=True)
        log.info("unmounted %s", root)
    return how.caught[0] if how.caught else None


def _restore(
    previous: dict[int, signal.Handlers | Callable[[int, FrameType | None], Any] | int | None],
) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


def stop_serving(fs: EtherdFileSystem) -> None:
    """End serve() from the trio thread (or through trio.from_thread.run_sync)."""
    fs.stop()
    pyfuse3.terminate()


async def _run(fs: EtherdFileSystem, how: _Signals, ready: Callable[[EtherdFileSystem], None] | None) -> None:
    async with trio.open_nursery() as nursery:
        if how.handled:
            await nursery.start(_watch_signals, fs, how)
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


async def _watch_signals(fs: EtherdFileSystem, how: _Signals, task_status: trio.TaskStatus[None]) -> None:
    with trio.open_signal_receiver(*how.handled) as receiver:
        task_status.started()
        for _ in range(how.hangups):
            await _hangup(how)
        if not how.caught:
            async for signum in receiver:
                if signum in STOP_SIGNALS:
                    how.caught.append(signum)
                    break
                await _hangup(how)
    name = signal.Signals(how.caught[0]).name
    if how.drain is not None:
        log.info("%s: finishing the requests in flight, then unmounting", name)
        await trio.to_thread.run_sync(how.drain)
        # Their answers wake the FUSE requests waiting for them; those reply to the kernel.
        with trio.move_on_after(_REPLY_WAIT):
            while fs.waiter.busy:
                await trio.sleep(0.01)
    else:
        log.info("%s: unmounting", name)
    stop_serving(fs)


async def _hangup(how: _Signals) -> None:
    if how.hangup is None:
        log.info("SIGHUP: nothing to do; still serving")
        return
    try:
        await trio.to_thread.run_sync(how.hangup)
    except OSError as exc:  # the service stopped meanwhile: its watch unmounts
        log.warning("SIGHUP: %s", exc)
