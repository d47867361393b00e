"""Cheap deterministic integer hashing.

The simulators never store generated rows: every value is a pure function of
(seed, account, device, tick), so a fleet of 50,000 terminals costs no memory and
any past row can be regenerated. splitmix64's finaliser is good enough and costs a
handful of integer operations per call.
"""

from __future__ import annotations

MASK64 = 0xFFFFFFFFFFFFFFFF
GOLDEN = 0x9E3779B97F4A7C15


def mix(x: int) -> int:
    """splitmix64 finaliser: a well-spread 64-bit hash of a 64-bit integer."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def key(*parts: int) -> int:
    """Combine several integers into one hash (order matters)."""
    h = 0x243F6A8885A308D3
    for part in parts:
        h = mix(((h ^ (part & MASK64)) + GOLDEN) & MASK64)
    return h


def unit(h: int, shift: int = 0) -> float:
    """A float in [0, 1) taken from 16 bits of a hash."""
    return ((h >> shift) & 0xFFFF) / 65536.0


def pick(h: int, n: int) -> int:
    """An index in range(n) from a hash."""
    return h % n


def hash_str(text: str) -> int:
    """A stable hash of a string (Python's own `hash` is salted per process)."""
    h = 0
    for byte in text.encode():
        h = mix(h ^ byte)
    return h
