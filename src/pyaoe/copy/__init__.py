"""pyaoe.copy: `pyaoe copy`'s library: the ends (files, devices, AoE, NBD), the copy with requests
in flight and its checksum verify, and the progress display.
"""
