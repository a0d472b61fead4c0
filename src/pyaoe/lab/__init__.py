"""pyaoe.lab: build throw-away networks (namespaces, veth pairs, bridges, taps) and run processes in them.

Used by `pyaoe demo`, `bench` and `soak` and by the tests; everything made is removed on exit.
(The QEMU guest and the fake sysfs trees are test rigs: tests/support.)
"""
