"""Paths: a target's interfaces, the rotation of frames over them, and their losses."""

from __future__ import annotations

from pyaoe.initiator.paths import MAX_INTERFACES, Paths


def paths(*names: str) -> Paths:
    p = Paths()
    for name in names:
        assert p.add(name)
    return p


def test_frames_rotate_over_the_interfaces_in_the_order_they_were_found() -> None:
    p = paths("eth0", "eth1", "eth2")
    assert p.take(4) == ["eth0", "eth1", "eth2", "eth0"]
    assert p.take(1) == ["eth1"]
    assert p.take(0) == []
    assert p.take(2) == ["eth2", "eth0"]


def test_one_interface_takes_every_frame() -> None:
    p = paths("eth0")
    assert p.take(3) == ["eth0"] * 3


def test_rotation_goes_on_after_an_interface_is_removed() -> None:
    p = paths("eth0", "eth1", "eth2")
    assert p.take(2) == ["eth0", "eth1"]
    assert p.remove("eth1") and not p.remove("eth1")
    assert p.take(3) == ["eth0", "eth2", "eth0"]
    p.remove("eth2")
    assert p.take(2) == ["eth0", "eth0"]


def test_an_interface_found_again_is_not_added_twice_and_at_most_eight_are_kept() -> None:
    p = paths("eth0")
    assert not p.add("eth0")
    for i in range(1, 12):
        p.add(f"eth{i}")
    assert len(p.names) == MAX_INTERFACES


def test_an_interface_losing_more_than_the_limit_in_a_row_is_given_up_if_there_is_another() -> None:
    p = paths("eth0", "eth1")
    assert [p.timed_out("eth0", 3) for _ in range(4)] == [False, False, False, True]
    assert p.lost == {"eth0": 4, "eth1": 0} and p.losses == 4
    single = paths("eth0")
    assert not any(single.timed_out("eth0", 3) for _ in range(10))
    assert not p.timed_out("wlan0", 3)  # not one of its interfaces


def test_an_answer_forgives_its_interfaces_losses_only() -> None:
    p = paths("eth0", "eth1")
    p.timed_out("eth0", 8)
    p.timed_out("eth0", 8)
    p.timed_out("eth1", 8)
    p.answered("eth0")
    assert p.lost == {"eth0": 0, "eth1": 1} and p.losses == 1
    p.add("eth1")  # found again by a config answer: forgiven too
    assert p.lost == {"eth0": 0, "eth1": 0} and p.losses == 0
    p.timed_out("eth1", 8)
    p.remove("eth1")
    assert p.losses == 0


class _Out:
    """Stands for an exchange out on an interface."""

    def __init__(self, paths: Paths, name: str) -> None:
        paths.sent[name] += 1
        self.pseq = paths.sent[name]
        self.on_path: dict[object, None] | None = paths.outstanding[name]
        self.on_path[self] = None


def test_each_interface_keeps_what_is_out_on_it_in_send_order_and_its_send_count() -> None:
    paths = Paths()
    paths.add("eth0")
    paths.add("eth1")
    first, second, other = _Out(paths, "eth0"), _Out(paths, "eth0"), _Out(paths, "eth1")
    assert list(paths.outstanding["eth0"]) == [first, second]
    assert list(paths.outstanding["eth1"]) == [other]
    assert (first.pseq, second.pseq, other.pseq) == (1, 2, 1)
    # An interface given up forgets what was out on it (that times out as it would) but not
    # its count: numbers stay rising if it comes back.
    assert paths.remove("eth0")
    assert "eth0" not in paths.outstanding and first.on_path is None and second.on_path is None
    paths.add("eth0")
    assert paths.outstanding["eth0"] == {} and _Out(paths, "eth0").pseq == 3
