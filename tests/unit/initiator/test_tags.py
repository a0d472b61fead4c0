"""TagAllocator: 31-bit tags, never 0, never one still in use."""

from __future__ import annotations

from pyaoe.initiator.tags import TAG_MASK, TagAllocator, is_initiator_tag


def test_tags_count_up_from_the_injected_start() -> None:
    tags = TagAllocator(start=1000)
    assert tags.allocate(2) == [1000, 1001]
    assert tags.allocate(1) == [1002]


def test_tags_keep_bit_31_clear_and_skip_zero_when_wrapping() -> None:
    tags = TagAllocator(start=TAG_MASK - 1)
    assert tags.allocate(3) == [TAG_MASK - 1, TAG_MASK, 1]


def test_a_start_with_bit_31_set_is_masked() -> None:
    tags = TagAllocator(start=0x80000005)
    assert tags.allocate(1) == [5]


def test_tags_in_use_are_skipped() -> None:
    tags = TagAllocator(start=10)
    assert tags.allocate(1, in_use={10, 11}) == [12]
    assert tags.allocate(3, in_use={14, 16}) == [13, 15, 17]
    assert tags.allocate(0) == [] and tags.allocate(1) == [18]


def test_only_nonzero_tags_without_bit_31_can_be_ours() -> None:
    assert is_initiator_tag(1) and is_initiator_tag(TAG_MASK)
    assert not is_initiator_tag(0)
    assert not is_initiator_tag(0x80000001)
