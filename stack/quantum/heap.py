"""Keep freed memory in the process for the batched path: no page fault per temporary array.

A block of ~40,000 pairs makes and frees numpy temporaries of 40–500 kB. glibc's malloc serves an
allocation above ``M_MMAP_THRESHOLD`` (128 kB at first, then adjusted) with a fresh ``mmap`` and returns
the memory at the top of its heap above ``M_TRIM_THRESHOLD`` to the kernel, so the same arrays come back
as new pages again and again: ~400 page faults a block, which on a virtual machine cost more than the
arithmetic (measured: 38 → 13 ns of CPU per sampled pair, ``bench/bench_batch.py``). :func:`keep_freed_memory`
raises both thresholds once per process (32 MB and 256 MB: freed memory up to that much stays for reuse);
with another C library it does nothing.
"""

from __future__ import annotations

import ctypes
import functools

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds (once); False when the C library has no ``mallopt``."""
    try:
        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)     # the process's own symbols: its C library's
    except (OSError, TypeError):
        return False
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
