"""pyaoe.storage: where an export's bytes live (files, block devices, memory).

Each backend satisfies pyaoe.target.Backend; offsets are relative to the export's window.
"""
