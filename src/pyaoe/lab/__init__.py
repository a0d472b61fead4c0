"""pyaoe.lab: build throw-away networks (namespaces, veth pairs, bridges, taps) and guests.

Used by the demo, the benchmark and the tests; everything made is removed on exit.
"""
