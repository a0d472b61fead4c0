"""The QEMU harness itself: what a guest script reports comes back, and a stuck guest still reports."""

from __future__ import annotations

import pytest

from pyaoe.lab.netns import Lab
from support.qemu import GuestImage, boot_guest

# Boots guests under TCG (the first builds the image): longer than the default timeout.
pytestmark = [pytest.mark.interop, pytest.mark.qemu, pytest.mark.netns, pytest.mark.timeout(900)]


def test_script_status_marks_env_files_and_mtu_come_back(lab: Lab, guest_image: GuestImage) -> None:
    tap = lab.tap(lab.netns("aoeqh"), mtu=9000)
    script = 'mark greeting "$GREETING"\nmark file "$(cat /guest/data.txt)"\nexit 3\n'
    result = boot_guest(
        lab, guest_image, tap, script, env={"GREETING": "hello there"},
        files={"guest/data.txt": b"payload"}, mtu=9000, timeout=60,
    )  # fmt: skip
    assert result.exit_status == 3, result.describe()
    assert result.marks["greeting"] == "hello there"
    assert result.marks["file"] == "payload"
    assert result.marks["mtu"] == "9000"
    assert not result.timed_out and not result.ok
    assert "@@pyaoe-dmesg-begin" in result.console  # a failing script gets the kernel log


def test_a_stuck_script_is_reported_by_the_guest_watchdog(lab: Lab, guest_image: GuestImage) -> None:
    tap = lab.tap(lab.netns("aoeqh"))
    # The guest watchdog fires 20 s before the host would kill QEMU.
    result = boot_guest(lab, guest_image, tap, "mark before\nsleep 600\nmark after\n", timeout=25)
    assert not result.timed_out, result.describe()
    assert result.marks["timeout"] == "5"
    assert result.exit_status == 124
    assert "before" in result.marks and "after" not in result.marks
