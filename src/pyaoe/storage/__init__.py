"""pyaoe.storage: where an export's bytes live (files, block devices, NBD exports, memory).

Each backend satisfies pyaoe.target.Backend; offsets are relative to the export's window.
open_backend() is the one place a target turns its file-name argument into a backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyaoe.storage.file import FileBackend
    from pyaoe.storage.nbd import NbdBackend

__all__ = ["open_backend"]


def open_backend(
    name: str,
    *,
    offset: int = 0,
    length: int | None = None,
    readonly: bool = False,
    direct: bool = False,
    sync: bool = False,
) -> FileBackend | NbdBackend:
    """The backend for a target's file-name argument: an NBD URI (nbd://HOST[:PORT]/EXPORT,
    nbd+unix:///EXPORT?socket=PATH) or a file or block device.

    ``offset`` and ``length`` count 512-byte sectors (vblade's -o and -l). Raises OSError when
    it cannot be opened or reached and ValueError for a bad URI, a window that does not fit or
    an option that does not apply (O_DIRECT on an NBD export).
    """
    from pyaoe.protocol.nbd.uri import is_nbd_uri, parse_nbd_uri

    if is_nbd_uri(name):
        from pyaoe.storage.nbd import NbdBackend

        address = parse_nbd_uri(name)
        if direct:
            raise ValueError(f"{name}: -d (O_DIRECT) applies to files, not to NBD exports")
        return NbdBackend(address, offset=offset, length=length, readonly=readonly, sync=sync)
    from pyaoe.storage.file import FileBackend

    return FileBackend(name, offset=offset, length=length, readonly=readonly, direct=direct, sync=sync)
