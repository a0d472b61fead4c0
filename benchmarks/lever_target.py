"""`vblade`'s command line (pyaoe.cli.vblade) with one lever of the target's speed changed, for
benchmarks/target_levers.py: each lever that was measured and not kept lives here, so that its
figure in the README can be reproduced.

Run: python benchmarks/lever_target.py LEVER [vblade options] SHELF SLOT NETIF FILE
With PYAOE_LEVER_SRC=DIR in the environment, pyaoe is imported from DIR (an older tree, for a
before/after pair).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

# <linux/if_packet.h>, <asm-generic/socket.h>
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
SO_BUSY_POLL = 46
SO_PREFER_BUSY_POLL = 69
SO_BUSY_POLL_BUDGET = 70


def after_open(tune: Callable[[Any], None]) -> None:
    """Run ``tune`` on every port once it is open."""
    from pyaoe.service import target_port

    original = target_port.Port.open.__func__  # type: ignore[attr-defined]

    def open_port(cls: Any, ifname: str, exports: Sequence[Any], *args: Any) -> Any:
        port = original(cls, ifname, exports, *args)
        tune(port)
        return port

    target_port.Port.open = classmethod(open_port)  # type: ignore[method-assign, assignment]


def qdisc_bypass(port: Any) -> None:
    port.sock.socket.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)


def busy_poll(port: Any) -> None:
    sock = port.sock.socket
    sock.setsockopt(socket.SOL_SOCKET, SO_BUSY_POLL, 50)
    sock.setsockopt(socket.SOL_SOCKET, SO_PREFER_BUSY_POLL, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_BUSY_POLL_BUDGET, 64)


def no_lever() -> None:
    pass


def mmap_reads() -> None:
    """Reads copied out of a shared read-only mapping of the file: no system call a read
    (a file truncated under the target, or a disk error, would then be SIGBUS, not EIO)."""
    import mmap

    from pyaoe.storage.file import FileBackend

    plain = FileBackend.readv

    def readv(self: FileBackend, buffers: Sequence[memoryview], offset: int) -> int:
        whole = getattr(self, "_whole", None)
        if whole is None:
            if self.direct:
                return plain(self, buffers, offset)
            size = self._base + self.size  # type: ignore[attr-defined]
            whole = memoryview(mmap.mmap(self.fd, size, prot=mmap.PROT_READ))
            self._whole = whole  # type: ignore[attr-defined]
        position = self._base + offset  # type: ignore[attr-defined]
        for buf in buffers:
            n = len(buf)
            buf[:] = whole[position : position + n]
            position += n
        return position - self._base - offset  # type: ignore[attr-defined]

    FileBackend.readv = readv  # type: ignore[method-assign]


def rx_ring() -> None:
    """A PACKET_MMAP receive ring (rx_ring.py): frames answered and sent where the kernel put
    them, no recvmmsg while frames wait."""
    from rx_ring import RxRing, ring_frame_size

    def tune(port: Any) -> None:
        mtu = port.sock.mtu
        port._batch = RxRing(port.sock.socket, 512, ring_frame_size(mtu + 14), port.batch_size)

    after_open(tune)


def tx_ring() -> None:
    """A PACKET_MMAP transmit ring (tx_ring.py): frames received into its slots, answered there
    and sent with one send() a batch instead of sendmmsg's copy of each."""
    from tx_ring import TxRing, slot_size

    def tune(port: Any) -> None:
        port._batch = TxRing(
            port.sock.fileno(), port.sock.ifname, slot_size(port.sock.mtu + 14), port.batch_size
        )

    after_open(tune)


def io_uring() -> None:
    """A batch's runs as one io_uring submission (PyPI liburing): FileBackend gets submit(), so
    the fast path hands it every run of a batch at once; one io_uring_enter for all of them."""
    import liburing as uring

    from pyaoe.storage.file import FileBackend

    def submit(self: FileBackend, runs: Sequence[tuple[bool, int, Sequence[memoryview]]]) -> list[int]:
        ring = getattr(self, "_ring", None)
        if ring is None:
            ring = uring.Ring()
            uring.io_uring_queue_init(256, ring)
            self._ring, self._cqe = ring, uring.Cqe()  # type: ignore[attr-defined]
        base = self._base  # type: ignore[attr-defined]
        iovecs = []  # kept until every completion: the kernel reads them at submission
        for k, (writing, offset, buffers) in enumerate(runs):
            sqe = uring.io_uring_get_sqe(ring)
            prep = uring.io_uring_prep_writev if writing else uring.io_uring_prep_readv
            iovecs.append(uring.Iovec(list(buffers)))
            prep(sqe, self.fd, iovecs[-1], base + offset)
            uring.io_uring_sqe_set_data64(sqe, k)
        uring.io_uring_submit_and_wait(ring, len(runs))
        done = [0] * len(runs)
        cqe = self._cqe  # type: ignore[attr-defined]
        seen = 0
        while seen < len(runs):
            uring.io_uring_wait_cqe(ring, cqe)
            ready = uring.io_uring_cq_ready(ring)
            for i in range(ready):
                entry = cqe[i]
                done[uring.io_uring_cqe_get_data64(entry)] = max(entry.res, 0)
            uring.io_uring_cq_advance(ring, ready)
            seen += ready
        return done

    FileBackend.submit = submit  # type: ignore[attr-defined]


def c_loop() -> None:
    """The fast path's per-frame loop in C (fastloop.c, built now) for exports on a plain file."""
    from native_fastpath import NativeFastPath, build_loop

    from pyaoe.service import target_port

    NativeFastPath.loop = build_loop()
    target_port.FastPath = NativeFastPath  # type: ignore[attr-defined, assignment]


LEVERS: dict[str, Callable[[], None]] = {
    "c-loop": c_loop,
    "io-uring": io_uring,
    "rx-ring": rx_ring,
    "tx-ring": tx_ring,
    "mmap-reads": mmap_reads,
    "none": no_lever,
    # The mask list is on the command line (target_levers.py adds -m for this lever's side).
    "mask": no_lever,
    "qdisc-bypass": lambda: after_open(qdisc_bypass),
    "busy-poll": lambda: after_open(busy_poll),
}


def main() -> int:
    lever, rest = sys.argv[1], sys.argv[2:]
    if lever not in LEVERS:
        print(f"lever_target: unknown lever {lever!r} (known: {', '.join(LEVERS)})", file=sys.stderr)
        return 2
    if os.environ.get("PYAOE_LEVER_SRC"):
        sys.path.insert(0, os.environ["PYAOE_LEVER_SRC"])
    LEVERS[lever]()
    from pyaoe.cli import vblade

    return vblade.main(rest)


if __name__ == "__main__":
    sys.exit(main())
