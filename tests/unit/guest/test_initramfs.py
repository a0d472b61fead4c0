"""The guest image's pieces that need no QEMU: the newc cpio writer, kernel choice, mark parsing."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from support.initramfs import CpioWriter, cpio_archive, find_kernel
from support.qemu import GuestResult, MissingMark, parse_marks


def _listing(archive: bytes) -> list[str]:
    out = subprocess.run(["cpio", "-itv", "--quiet"], input=archive, capture_output=True, check=True)
    return out.stdout.decode().splitlines()


def test_cpio_archive_is_read_back_by_gnu_cpio(tmp_path: Path) -> None:
    archive = cpio_archive({"guest/run.sh": b"echo hi\n", "guest/env": b"", "etc/odd": b"12345"})
    subprocess.run(["cpio", "-idm", "--quiet"], input=archive, cwd=tmp_path, check=True)
    assert (tmp_path / "guest/run.sh").read_bytes() == b"echo hi\n"
    assert (tmp_path / "guest/env").read_bytes() == b""
    assert (tmp_path / "etc/odd").read_bytes() == b"12345"
    assert len(archive) % 512 == 0


def test_cpio_writer_makes_parents_links_and_device_nodes() -> None:
    buf = io.BytesIO()
    w = CpioWriter(buf)
    w.file("usr/sbin/tool", b"#!/bin/sh\n", 0o755)
    w.symlink("sbin/tool", "/usr/sbin/tool")
    w.char_device("dev/console", 5, 1)
    w.close()
    lines = _listing(buf.getvalue())
    by_name = {line.split()[-1] if "->" not in line else line.split()[-3]: line for line in lines}
    assert by_name["usr"].startswith("d")
    assert by_name["usr/sbin"].startswith("d")
    assert by_name["usr/sbin/tool"].startswith("-rwxr-xr-x")
    assert by_name["sbin/tool"].startswith("l") and by_name["sbin/tool"].endswith("-> /usr/sbin/tool")
    assert by_name["dev/console"].startswith("crw-------")
    assert by_name["dev/console"].split()[4:6] == ["5,", "1"]


def test_find_kernel_picks_the_newest_that_has_aoe(tmp_path: Path) -> None:
    boot, modules = tmp_path / "boot", tmp_path / "modules"
    boot.mkdir()
    for version, has_aoe in (("6.1.0-9-amd64", True), ("6.1.0-10-amd64", True), ("6.5.0-1-amd64", False)):
        (boot / f"vmlinuz-{version}").write_bytes(b"")
        aoe = modules / version / "kernel/drivers/block/aoe"
        aoe.mkdir(parents=True)
        if has_aoe:
            (aoe / "aoe.ko.xz").write_bytes(b"")
    vmlinuz, version = find_kernel(boot, modules)
    assert version == "6.1.0-10-amd64"
    assert vmlinuz == boot / "vmlinuz-6.1.0-10-amd64"


def test_find_kernel_without_any_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="linux-image-amd64"):
        find_kernel(tmp_path, tmp_path)


def test_marks_survive_carriage_returns_and_kernel_noise() -> None:
    console = (
        "SeaBIOS\r\n@@pyaoe payload 1024\r\n[    3.1] aoe: e5.2: setting 1024 byte data frames\r\n"
        "@@pyaoe state up\r\n@@pyaoe flag\r\n@@pyaoe payload 8704\r\n@@pyaoe exit 0\r\n"
    )
    assert parse_marks(console) == {"payload": "8704", "state": "up", "flag": "", "exit": "0"}


def test_a_missing_mark_says_what_the_guest_did() -> None:
    result = GuestResult(console="boot\n@@pyaoe exit 1\n", marks={"exit": "1"}, exit_status=1)
    with pytest.raises(MissingMark, match=r"(?s)no 'payload'.*exit status 1.*@@pyaoe exit 1"):
        result.mark("payload")
    assert not result.ok
