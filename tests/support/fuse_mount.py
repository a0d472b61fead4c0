"""Serve pyaoe's initiator tree over any service object in a thread of the test process (root),
and take it down again, even when the test failed:

    with mounted_tree(FakeInitiator(), tmp_path / "aoe") as tree:
        (tree.root / "etherd" / "discover").write_bytes(b"\\n")
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from pyaoe.fuse.daemon import prepare_mount_point, serve, stop_serving
from pyaoe.fuse.filesystem import EtherdFileSystem

__all__ = ["MountedTree", "mounted_tree"]


@dataclass
class MountedTree:
    root: Path
    fs: EtherdFileSystem
    token: trio.lowlevel.TrioToken

    @property
    def etherd(self) -> Path:
        return self.root / "etherd"

    @property
    def sys(self) -> Path:
        return self.root / "sys"

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the file system's trio thread."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self.token)


@contextlib.contextmanager
def mounted_tree(service: Any, root: Path, timeout: float = 10.0) -> Iterator[MountedTree]:
    made = prepare_mount_point(root)
    ready = threading.Event()
    box: dict[str, Any] = {}

    def on_ready(fs: EtherdFileSystem) -> None:
        box["tree"] = MountedTree(root, fs, trio.lowlevel.current_trio_token())
        ready.set()

    def run() -> None:
        try:
            serve(EtherdFileSystem(service), root, signals=(), ready=on_ready)
        except BaseException as exc:
            box["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="fuse", daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout) or "tree" not in box:
            raise AssertionError(f"the tree did not come up at {root}: {box.get('error')!r}")
        yield box["tree"]
    finally:
        if "tree" in box:
            with contextlib.suppress(Exception):
                box["tree"].call(stop_serving, box["tree"].fs)
        thread.join(timeout)
        if os.path.ismount(root):
            subprocess.run(["umount", "-l", str(root)], check=False)
        if made:
            with contextlib.suppress(OSError):
                root.rmdir()
        if thread.is_alive():
            raise AssertionError("the file system thread did not end")
        if "error" in box:
            raise AssertionError(f"the file system failed: {box['error']!r}")
