"""support.qemu: boot Debian's kernel in QEMU on a tap device, run a guest script, collect its results.

Used to test AoE targets against the real Linux aoe driver; see guest/aoe-check.sh for the checks.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyaoe.lab.netns import Lab, Link
from support.initramfs import GUEST_DIR, GuestImage, build_guest_image, copy_image, cpio_archive

__all__ = [
    "GuestImage",
    "GuestResult",
    "MissingMark",
    "boot_guest",
    "build_guest_image",
    "guest_script",
    "parse_marks",
    "qemu_argv",
]

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
# Seconds between the guest watchdog's power-off and QEMU's kill: boot time, and a margin for load.
GUEST_GRACE = 20.0
_MARK = re.compile(r"@@pyaoe (\S+)(?: (.*?))?\r?$")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DMESG = re.compile(r"@@pyaoe-dmesg-begin\r?\n(.*?)@@pyaoe-dmesg-end", re.S)


class MissingMark(LookupError):
    """The guest did not report a mark a caller asked for; the message carries the console tail."""


def guest_script(name: str) -> str:
    """A guest script in tests/support/guest (e.g. "aoe-check.sh")."""
    return (GUEST_DIR / name).read_text()


@dataclass
class GuestResult:
    """What a boot produced: the serial console text and the "@@pyaoe NAME VALUE" marks in it."""

    console: str = field(repr=False)
    marks: dict[str, str] = field(default_factory=dict)
    exit_status: int | None = None  # the guest script's; None if the guest never reported one
    timed_out: bool = False  # QEMU was killed: the guest did not even power off
    elapsed: float = 0.0
    qemu_returncode: int | None = None

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out

    @property
    def dmesg(self) -> str:
        """The kernel log tail the guest prints when its script fails."""
        m = _DMESG.search(self.console)
        return m.group(1) if m else ""

    def mark(self, name: str) -> str:
        """The value of mark ``name``; a missing one raises with the console tail, for a readable failure."""
        try:
            return self.marks[name]
        except KeyError:
            raise MissingMark(f"guest reported no {name!r}\n{self.describe()}") from None

    def describe(self, lines: int = 60) -> str:
        """A summary for assertion messages: status, marks and the end of the console."""
        tail = "\n".join(self.console.splitlines()[-lines:])
        if self.timed_out:
            state = "killed: no power-off"
        elif "timeout" in self.marks:
            state = f"watchdog fired after {self.marks['timeout']}s: the script was stuck"
        else:
            state = f"exit status {self.exit_status}"
        return (
            f"guest {state} after {self.elapsed:.1f}s (QEMU exit {self.qemu_returncode}); "
            f"marks {self.marks}\n--- console tail ---\n{tail}"
        )


def parse_marks(console: str) -> dict[str, str]:
    marks: dict[str, str] = {}
    for line in console.splitlines():
        m = _MARK.search(line)
        if m:
            marks[m.group(1)] = (m.group(2) or "").strip()
    return marks


def qemu_argv(
    image: GuestImage,
    initrd: Path,
    tap: str,
    *,
    mtu: int = 1500,
    memory_mb: int = 768,
    mac: str = "52:54:00:a0:e0:01",
    kernel_args: Sequence[str] = (),
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The QEMU command line: TCG (KVM hangs here), serial console on stdout, an e1000 NIC on
    ``tap``, then ``extra_args`` (a -drive, say)."""
    append = ["console=ttyS0", "loglevel=1", "panic=-1", "edd=off", f"pyaoe.mtu={mtu}", *kernel_args]
    return [
        QEMU, "-accel", "tcg", "-cpu", "max", "-m", str(memory_mb),
        "-nographic", "-no-reboot", "-vga", "none",
        "-kernel", str(image.kernel), "-initrd", str(initrd), "-append", " ".join(append),
        "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
        "-device", f"e1000,netdev=n0,mac={mac},romfile=,autonegotiation=off",
        *extra_args,
    ]  # fmt: skip


def boot_guest(
    lab: Lab,
    image: GuestImage,
    tap: Link,
    script: str,
    *,
    env: Mapping[str, str | int] | None = None,
    files: Mapping[str, bytes] | None = None,
    mtu: int = 1500,
    timeout: float = 120.0,
    mac: str = "52:54:00:a0:e0:01",
    kernel_args: Sequence[str] = (),
    extra_args: Sequence[str] = (),
) -> GuestResult:
    """Boot ``image`` with its NIC on ``tap`` and run ``script`` as /guest/run.sh; wait for power-off.

    ``env`` becomes exported shell variables of the script, ``files`` extra files in the guest
    (paths relative to /), ``mac`` the guest NIC's address, ``extra_args`` more QEMU options.
    QEMU runs in the tap's namespace.
    A guest watchdog reports and powers off GUEST_GRACE seconds before ``timeout``, so stuck
    I/O still yields the kernel log; QEMU itself is killed at ``timeout``.
    """
    bad = [k for k in (env or {}) if not _ENV_NAME.match(k)]
    if bad:
        raise ValueError(f"not shell variable names: {bad}")
    guest_files = {"guest/run.sh": script.encode()}
    lines = [f"export {k}={shlex.quote(str(v))}\n" for k, v in (env or {}).items()]
    guest_files["guest/env"] = "".join(lines).encode()
    for path, data in (files or {}).items():
        guest_files[path.lstrip("/")] = data
    with tempfile.TemporaryDirectory(prefix="pyaoe-qemu-") as tmp:
        initrd = copy_image(image, cpio_archive(guest_files), Path(tmp) / "initrd.img")
        guest_timeout = max(5, int(timeout - GUEST_GRACE))
        args = (f"pyaoe.timeout={guest_timeout}", *kernel_args)
        argv = qemu_argv(image, initrd, tap.ifname, mtu=mtu, mac=mac, kernel_args=args, extra_args=extra_args)
        console_path = Path(tmp) / "console.txt"
        start = time.monotonic()
        timed_out = False
        with open(console_path, "wb") as console:
            proc = lab.popen(
                tap.netns, argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                log.warning("guest did not power off within %.0fs; killing QEMU", timeout)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        elapsed = time.monotonic() - start
        text = console_path.read_bytes().decode(errors="replace")
    marks = parse_marks(text)
    status = marks.get("exit")
    result = GuestResult(
        console=text,
        marks=marks,
        exit_status=int(status) if status and status.lstrip("-").isdigit() else None,
        timed_out=timed_out,
        elapsed=elapsed,
        qemu_returncode=proc.returncode,
    )
    log.info("guest finished in %.1fs with status %s", elapsed, result.exit_status)
    return result
