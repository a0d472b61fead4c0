"""pyaoe.reliability: fault and soak runs that prove nothing acknowledged is lost.

Ledgers of acknowledged writes, a random write load, fault scenarios (faults.py), load and
discovery at scale (load.py), and the figures table behind `pyaoe soak`.
"""
