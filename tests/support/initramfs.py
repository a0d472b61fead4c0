"""support.initramfs: the guest image for kernel-driver tests: newc cpio writer and a cached builder.

The image holds Debian's kernel modules (aoe, e1000, ext4 and their dependencies), busybox,
e2fsprogs and our /init; a small archive appended per boot carries the guest script.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import logging
import lzma
import os
import re
import shutil
import stat
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = [
    "BOOT_MODULES",
    "GUEST_DIR",
    "GuestImage",
    "CpioWriter",
    "build_guest_image",
    "find_kernel",
    "cpio_archive",
]

log = logging.getLogger(__name__)

# Loaded by /init in this order (with their dependencies); aoe is left to the guest script,
# which chooses its parameters and loads it once the NIC is up. virtio_blk: a guest whose disk
# QEMU serves (from `pyaoe nbd`, say) sees it as /dev/vda.
BOOT_MODULES = ("e1000", "ext4", "virtio_pci", "virtio_blk")
GUEST_MODULES = ("aoe", *BOOT_MODULES)
E2FSPROGS = ("/usr/sbin/mke2fs", "/usr/sbin/e2fsck", "/usr/sbin/debugfs", "/usr/sbin/dumpe2fs")
BUSYBOX = "/bin/busybox"
#: The guest's /init, its shell library and its check scripts.
GUEST_DIR = Path(__file__).resolve().parent / "guest"
# Bumped whenever the layout changes, so an old cached image is not reused.
_LAYOUT_VERSION = "3"

_NEWC_MAGIC = b"070701"


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def tell(self) -> int: ...


class CpioWriter:
    """Writes a newc ("070701") cpio archive, the format the kernel unpacks as an initramfs.

    Entries are added explicitly (mode, contents, device numbers), so no root rights are
    needed to put /dev/console in the image.
    """

    def __init__(self, out: _Sink) -> None:
        self._out = out
        self._ino = 1000
        self._dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        name = name.strip("/")
        self._ino += 1
        fields = (
            self._ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data),
            0, 0, rdev[0], rdev[1], len(name) + 1, 0,
        )  # fmt: skip
        header = _NEWC_MAGIC + b"".join(b"%08X" % f for f in fields)
        self._out.write(header + name.encode() + b"\0")
        self._out.write(b"\0" * (-(len(header) + len(name) + 1) % 4))
        self._out.write(data)
        self._out.write(b"\0" * (-len(data) % 4))

    def directory(self, path: str, mode: int = 0o755) -> None:
        """Add ``path`` and its missing parents."""
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub and sub not in self._dirs:
                self._dirs.add(sub)
                self._entry(sub, stat.S_IFDIR | mode)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.directory(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFREG | mode, data)

    def symlink(self, path: str, target: str) -> None:
        self.directory(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self.directory(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFCHR | mode, rdev=(major, minor))

    def close(self) -> None:
        self._entry("TRAILER!!!", 0)
        # The kernel reads concatenated archives; keep the next one 512-byte aligned.
        self._out.write(b"\0" * (-self._out.tell() % 512))


def cpio_archive(files: Mapping[str, bytes], mode: int = 0o755) -> bytes:
    """An uncompressed newc archive of ``files`` (path -> contents), e.g. to append to an initramfs."""
    buf = io.BytesIO()
    writer = CpioWriter(buf)
    for path, data in files.items():
        writer.file(path, data, mode)
    writer.close()
    return buf.getvalue()


@dataclass(frozen=True)
class GuestImage:
    """A kernel and the initramfs built for it."""

    kernel: Path
    initramfs: Path
    kernel_version: str


def _version_key(version: str) -> list[int | str]:
    return [int(p) if p.isdigit() else p for p in re.split(r"[.-]", version)]


def find_kernel(boot: Path = Path("/boot"), modules: Path = Path("/lib/modules")) -> tuple[Path, str]:
    """The newest /boot/vmlinuz-VERSION whose modules include aoe (the running kernel may have none)."""
    found: list[tuple[str, Path]] = []
    for vmlinuz in boot.glob("vmlinuz-*"):
        version = vmlinuz.name.removeprefix("vmlinuz-")
        if list((modules / version / "kernel/drivers/block/aoe").glob("aoe.ko*")):
            found.append((version, vmlinuz))
    if not found:
        raise FileNotFoundError(f"no {boot}/vmlinuz-* with aoe.ko in {modules} (linux-image-amd64)")
    version, vmlinuz = max(found, key=lambda f: _version_key(f[0]))
    return vmlinuz, version


def module_paths(version: str, names: Iterable[str]) -> list[Path]:
    """The module files to insmod, dependencies first, as modprobe would load them."""
    out = subprocess.run(
        ["modprobe", "-S", version, "--show-depends", "-a", *names],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    paths: list[Path] = []
    for line in out.splitlines():
        words = line.split()
        # "builtin NAME" lines need nothing; "insmod PATH [params]" lines name a file.
        if len(words) >= 2 and words[0] == "insmod" and Path(words[1]) not in paths:
            paths.append(Path(words[1]))
    return paths


def _module_name(path: Path) -> str:
    return path.name.split(".ko", 1)[0]


def _module_bytes(path: Path) -> bytes:
    """The module uncompressed: busybox insmod does not read .ko.xz/.ko.zst/.ko.gz."""
    raw = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(raw)
    if path.name.endswith(".gz"):
        return gzip.decompress(raw)
    if path.name.endswith(".zst"):
        return subprocess.run(["zstd", "-dc"], input=raw, check=True, capture_output=True).stdout
    return raw


def shared_libraries(binaries: Iterable[str]) -> list[str]:
    """Paths of the shared libraries (and the dynamic loader) ``binaries`` need, as ldd reports them."""
    libs: list[str] = []
    for binary in binaries:
        out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
            if m and m.group(1) not in libs:
                libs.append(m.group(1))
    return libs


def _guest_file(name: str) -> bytes:
    return (GUEST_DIR / name).read_bytes()


def _cache_key(version: str, files: Iterable[str], guest_files: Iterable[str] = ()) -> str:
    """A digest of what a cached file was made from: layout, kernel version, inputs' sizes and times."""
    h = hashlib.sha256(f"{_LAYOUT_VERSION} {version}\n".encode())
    for src in files:
        st = os.stat(src)
        h.update(f"{src} {st.st_size} {st.st_mtime_ns}\n".encode())
    for name in guest_files:
        h.update(_guest_file(name))
    return h.hexdigest()[:16]


def _write_image(out: _Sink, modules: list[Path], boot: list[Path], libs: list[str]) -> None:
    w = CpioWriter(out)
    for d in ("proc", "sys", "dev", "tmp", "mnt", "run", "root", "etc", "guest", "usr/sbin", "usr/bin"):
        w.directory(d)
    # The kernel opens /dev/console for init before anything can mount devtmpfs.
    w.char_device("dev/console", 5, 1)
    w.char_device("dev/null", 1, 3, 0o666)
    w.file("bin/busybox", Path(BUSYBOX).read_bytes(), 0o755)
    e2fs = {p.lstrip("/") for p in E2FSPROGS}
    applets = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True, text=True).stdout
    for link in applets.split():
        # busybox's own mke2fs must not take the place of e2fsprogs'.
        if link != "bin/busybox" and link not in e2fs:
            w.symlink(link, "/bin/busybox")
    for binary in E2FSPROGS:
        w.file(binary, Path(binary).read_bytes(), 0o755)
    w.symlink("usr/sbin/mkfs.ext4", "mke2fs")
    w.symlink("usr/sbin/fsck.ext4", "e2fsck")
    for lib in libs:
        w.file(lib, Path(lib).read_bytes(), 0o755)
    w.file("etc/mke2fs.conf", Path("/etc/mke2fs.conf").read_bytes())
    w.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    for mod in modules:
        w.file(f"lib/modules/{_module_name(mod)}.ko", _module_bytes(mod))
    w.file("etc/pyaoe/boot-modules", "".join(f"{_module_name(m)}\n" for m in boot).encode())
    w.file("init", _guest_file("init"), 0o755)
    w.file("lib/pyaoe/lib.sh", _guest_file("lib.sh"))
    w.close()


# Where the compressed kernel starts inside a bzImage, by format.
_PAYLOAD_MAGIC = {"xz": b"\xfd7zXZ\x00", "zstd": b"\x28\xb5\x2f\xfd", "gzip": b"\x1f\x8b\x08\x00"}
_XEN_ELFNOTE_PHYS32_ENTRY = 18


def _decompress(kind: str, data: bytes) -> bytes:
    if kind == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    if kind == "gzip":
        return zlib.decompressobj(wbits=31).decompress(data)
    return subprocess.run(["zstd", "-dcq"], input=data, capture_output=True).stdout


def extract_vmlinux(vmlinuz: Path) -> bytes | None:
    """The uncompressed ELF kernel inside ``vmlinuz``, if it can boot through PVH; else None.

    QEMU boots such an ELF directly: under TCG that skips about 3 s of decompressing and real-mode
    setup on every boot.
    """
    data = vmlinuz.read_bytes()
    pvh_notes = [struct.pack("<III", 4, size, _XEN_ELFNOTE_PHYS32_ENTRY) + b"Xen\0" for size in (4, 8)]
    for kind, magic in _PAYLOAD_MAGIC.items():
        at = data.find(magic)
        if at < 0:
            continue
        try:
            elf = _decompress(kind, data[at:])
        except (lzma.LZMAError, zlib.error):
            continue
        if elf.startswith(b"\x7fELF") and any(note in elf for note in pvh_notes):
            return elf
    return None


def _write_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``target`` through a temporary file, so concurrent builders never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _write_initramfs(out: BinaryIO, modules: list[Path], boot: list[Path], libs: list[str]) -> None:
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        _write_image(gz, modules, boot, libs)
    # The archive appended per boot starts on a 512-byte boundary after the gzip stream.
    out.write(b"\0" * (-out.tell() % 512))


def build_guest_image(cache_dir: Path | str) -> GuestImage:
    """Build (or reuse from ``cache_dir``) the kernel and initramfs for the newest kernel with aoe.

    The cache is keyed on the kernel version and on every input file, and written atomically,
    so parallel sessions may share a cache directory.
    """
    vmlinuz, version = find_kernel()
    boot_modules = module_paths(version, BOOT_MODULES)
    modules = boot_modules + [p for p in module_paths(version, GUEST_MODULES) if p not in boot_modules]
    libs = shared_libraries(E2FSPROGS)
    sources = [BUSYBOX, *E2FSPROGS, *libs, "/etc/mke2fs.conf", *map(str, modules)]
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    initramfs = cache / f"initramfs-{version}-{_cache_key(version, sources, ('init', 'lib.sh'))}.cpio.gz"
    if not initramfs.exists():
        log.info("building %s", initramfs)
        _write_atomically(initramfs, lambda out: _write_initramfs(out, modules, boot_modules, libs))
    kernel = cache / f"vmlinux-{version}-{_cache_key(version, [str(vmlinuz)])}"
    if not kernel.exists():
        elf = extract_vmlinux(vmlinuz)
        if elf is None:
            log.info("%s has no PVH entry; booting it as it is", vmlinuz)
            return GuestImage(kernel=vmlinuz, initramfs=initramfs, kernel_version=version)
        _write_atomically(kernel, lambda out: out.write(elf))
    return GuestImage(kernel=kernel, initramfs=initramfs, kernel_version=version)


def copy_image(image: GuestImage, extra: bytes, dest: Path) -> Path:
    """Write ``image``'s initramfs followed by the ``extra`` archive to ``dest``."""
    with open(image.initramfs, "rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
        out.write(extra)
    return dest
