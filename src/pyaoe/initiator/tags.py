"""pyaoe.initiator.tags: the tags the initiator puts on its ATA frames.

A 31-bit counter from an injected start: bit 31 stays clear (userland tools own it, and the
driver drops responses that have it) and 0 is kept for Query Config, as the driver sends it.
"""

from __future__ import annotations

from collections.abc import Container

from pyaoe.protocol import TAG_USER_BIT

__all__ = ["TagAllocator", "TAG_MASK", "CONFIG_TAG", "is_initiator_tag"]

#: The bits a driver tag may use.
TAG_MASK = TAG_USER_BIT - 1
#: The tag of Query Config frames; responses to them are matched by command, not by tag.
CONFIG_TAG = 0


def is_initiator_tag(tag: int) -> bool:
    """Whether a response's tag can be one of ours (bit 31 clear, not the config tag)."""
    return 0 < tag <= TAG_MASK


class TagAllocator:
    """Hands out tags in sequence from ``start``, skipping 0 and any tag still in use.

    The sequence wraps after 2**31 - 1 tags; skipping live tags keeps two outstanding
    frames from ever sharing one, however long a frame waits.
    """

    __slots__ = ("next_tag",)

    def __init__(self, start: int = 1) -> None:
        #: The tag to try first next time.
        self.next_tag = (start & TAG_MASK) or 1

    def allocate(self, count: int, in_use: Container[int] = ()) -> list[int]:
        """The next ``count`` tags: in sequence, each skipping 0 and the tags in ``in_use``."""
        tag = self.next_tag
        taken: list[int] = []
        while len(taken) < count:
            if tag not in in_use:
                taken.append(tag)
            tag = (tag + 1) & TAG_MASK or 1
        self.next_tag = tag
        return taken
