"""pyaoe.nbd: NBD at pyaoe's edges: a pipelined client (the NBD backend, `pyaoe copy`) and the
server of `pyaoe nbd`, which offers AoE devices as NBD exports.
"""
