"""pyaoe.fuse: the initiator's file system (what the Linux aoe driver puts in /dev/etherd and /sys).

partitions reads MBR/GPT tables; the other modules build the tree and serve it with pyfuse3.
"""
