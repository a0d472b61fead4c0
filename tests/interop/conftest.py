"""Fixtures for interop tests: the QEMU guest image and a lab of namespaces that always cleans up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab
from support.qemu import GuestImage, build_guest_image


@pytest.fixture(scope="session")
def guest_image(tmp_path_factory: pytest.TempPathFactory) -> GuestImage:
    """Debian's kernel and an initramfs for it, built once per session (or kept in $PYAOE_GUEST_CACHE)."""
    cache = os.environ.get("PYAOE_GUEST_CACHE")
    return build_guest_image(Path(cache) if cache else tmp_path_factory.mktemp("guest-image"))


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab
