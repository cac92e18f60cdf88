"""The process's memory allocator (glibc malloc): keep freed chunk-sized blocks for reuse.

The streaming steps allocate and free arrays of one chunk (tens to hundreds of MB) per chunk, and small
frame-sized arrays (a few MB) per frame. By default glibc serves blocks over its mmap threshold (128 KB, rising to
at most 32 MB) with fresh mappings and gives them back to the kernel when freed, so every such array is faulted in
again page by page: the kernel's page faults (system time) were ~40% of CNMF-E's CPU time at 608x608
(benchmarks/long_session.md, session 8) and ~30% of motion's per-frame CPU (session 10).
"""

from __future__ import annotations

import ctypes
import logging

__all__ = ["keep_freed_memory"]

#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`keep_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 512 * 2**20
_TRIM_THRESHOLD_BYTES = 2**30


def keep_freed_memory(log: logging.Logger | None = None) -> bool:
    """Have this process's malloc (glibc) reuse freed chunk-sized blocks instead of returning them to the kernel.

    Blocks up to 512 MB are served from the heap, and up to 1 GB of freed heap is kept for reuse; the peak memory
    is that of the arrays alive at once, as before. Values computed are not affected. Call it in a step's own
    process or its worker processes (it sets the whole process's allocator). Returns False (and changes nothing)
    without glibc's ``mallopt``.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES))
    if log is not None:
        log.debug("malloc keeps freed blocks for reuse: %s", ok)
    return ok
