"""Handing freed heap memory back to the system after a big one-off allocation.

glibc's malloc keeps what a process freed for reuse instead of returning it, so the transient
buffers of loading the ONNX model (about 60 MB of its 160) or of decoding 100k stored records stay
in the process's resident memory for good. `malloc_trim(0)` returns the free pages; it is a no-op
where there is no glibc (macOS, musl), and it takes a few milliseconds, so it is called only after
loads, never per query.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
        return trim
    except (OSError, AttributeError):
        return None


def give_back() -> None:
    """Return the heap's free pages to the system (glibc only; elsewhere nothing happens)."""
    trim = _trim()
    if trim is not None:
        with contextlib.suppress(OSError):
            trim(0)
