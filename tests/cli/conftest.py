"""Fixtures the command-line tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyaoe.lab.netns import Lab, Link


@pytest.fixture(scope="module")
def link() -> Iterator[tuple[Lab, Link, Link]]:
    """A veth pair: one end in the root namespace, the other (where targets run) in a new one."""
    with Lab() as lab:
        ns = lab.netns("cli")
        here, there = lab.veth(None, ns)
        yield lab, here, there
