"""pyaoe.service: the loops that drive the pure engines with real sockets, files and clocks.

target.py serves exports; the initiator's loops live beside it.
"""
