"""``--shard I/N`` of the resumable benchmarks: parse it, and say whether a unit of work is this shard's.

A unit belongs to shard ``i`` of ``n`` when the CRC-32 of its key is ``i`` modulo ``n``: stable across
processes and runs (unlike ``hash``), so shards started separately split the work without overlap.
"""

from __future__ import annotations

import zlib


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` as ``(I, N)``.

    Raises:
        ValueError: not two non-negative integers with ``0 <= I < N`` (the message names the option).
    """
    parts = text.split("/")
    if len(parts) != 2 or not all(v.isdigit() for v in parts) or not 0 <= int(parts[0]) < int(parts[1]):
        raise ValueError(f"--shard {text!r}: give I/N with 0 <= I < N, e.g. 0/2")
    return int(parts[0]), int(parts[1])


def in_shard(key: str, shard: tuple[int, int]) -> bool:
    """Whether the unit named ``key`` is shard ``(i, n)``'s."""
    return zlib.crc32(key.encode()) % shard[1] == shard[0]
