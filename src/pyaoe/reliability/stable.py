"""pyaoe.reliability.stable: FLUSH CACHE and -s put acknowledged writes on the disk, not only in
the page cache. The backing file lives on ext4 on a loop device: what the loop device's image
holds is what a power cut would leave, and the self-describing sectors are found in it.
"""

from __future__ import annotations

import random
import subprocess
import time
from array import array
from pathlib import Path

from pyaoe.protocol import SECTOR_SIZE
from pyaoe.reliability.faults import DEADSECS, FaultOptions, finish_figures, namespace_pair
from pyaoe.reliability.ledger import Ledger, scan_stamps
from pyaoe.reliability.peers import VBLADE_COMMAND, start_initiator, start_target
from pyaoe.reliability.report import Figures
from pyaoe.reliability.workload import WriteLoad

__all__ = ["stable_storage"]

MiB = 1 << 20
# In a private mount namespace: mount the loop device, make the sparse backing file, serve.
_MOUNT_SCRIPT = 'mount -t ext4 "$1" "$0" && truncate -s "$2" "$0/disk.img" && shift 2 && exec "$@"'


def _stamps(image: Path) -> dict[tuple[int, int], int]:
    stamps: dict[tuple[int, int], int] = {}
    with open(image, "rb") as f:
        while chunk := f.read(16 * MiB):  # a multiple of the sector size: no sector is split
            scan_stamps(chunk, stamps)
    return stamps


def stable_storage(options: FaultOptions) -> Figures:
    """Write for a while without -s, take the ledger's state, send FLUSH CACHE: everything
    acknowledged before it must then be in the loop device's image. Then restart the target
    with -s (O_SYNC) and write again: every acknowledged write must be in the image at once."""
    figures = Figures("FLUSH CACHE and -s on disk")
    rng = random.Random(f"stable-{options.seed}")
    size = options.size_mib * MiB
    image = options.workdir / "stable.ext4"
    with open(image, "wb") as f:
        f.truncate(size + 64 * MiB)
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0", str(image)],
        check=True,
        capture_output=True,
    )
    loop = subprocess.run(
        ["losetup", "--find", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    mount = options.workdir / "stable-mnt"
    mount.mkdir(exist_ok=True)
    wrapper = ["unshare", "-m", "sh", "-c", _MOUNT_SCRIPT, str(mount), loop, str(size)]
    started = time.monotonic()
    try:
        with namespace_pair() as (lab, target_ns, initiator_ns, here, there):
            args = ["7", "6", there.ifname, str(mount / "disk.img")]
            with start_target(lab, target_ns, args, wrapper=wrapper, workdir=options.workdir) as target:
                service = start_initiator(initiator_ns, [here.ifname], deadsecs=DEADSECS)
                try:
                    service.wait_for_device("e7.6", 30)
                    ledger = Ledger("e7.6", 0, size // SECTOR_SIZE)
                    cached = WriteLoad(service, [ledger], rng).run(options.seconds / 2)
                    flushed = array("Q", ledger.acked)
                    before = ledger.check_stable(_stamps(image), flushed)
                    service.flush_cache("e7.6").result(60)
                    after = ledger.check_stable(_stamps(image), flushed)
                    figures.verdict(after, "in the disk image after FLUSH CACHE")
                    # O_SYNC: every answer now waits for the disk.
                    target.kill()
                    target.argv = [*wrapper, *VBLADE_COMMAND, "-s", *args]
                    target.start()
                    service.wait_for_device("e7.6", 30)
                    synced = WriteLoad(service, [ledger], rng).run(options.seconds / 2)
                    figures.verdict(ledger.check_stable(_stamps(image)), "in the disk image with -s")
                finally:
                    service.stop()
            for stats in (cached, synced):
                figures.load(stats)
                figures.expect_no_errors(stats)
            figures.notes.append(
                f"before FLUSH CACHE {before.lost / MiB:.1f} of {(before.lost + before.verified) / MiB:.1f} "
                "MiB acknowledged were in the page cache only; after it, all were on the disk; with -s every "
                f"acknowledged write was on the disk at once ({synced.bytes_written / MiB:.1f} MiB)"
            )
            if not before.lost:
                figures.notes.append(
                    "the kernel had written everything back before the flush: it proved less"
                )
    finally:
        subprocess.run(["losetup", "--detach", loop], capture_output=True)
    return finish_figures(figures, started, [service])
