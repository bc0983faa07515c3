"""What the C allocator holds in use: a leak shows here even when RSS hides it in steps."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


class _MallInfo2(ctypes.Structure):
    # glibc's struct mallinfo2 (2.33+): every field a size_t, in this order.
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


@cache
def _mallinfo2() -> Callable[[], _MallInfo2] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    function = getattr(libc, "mallinfo2", None)
    if function is None:  # not glibc, or a glibc older than 2.33
        return None
    function.restype = _MallInfo2
    function.argtypes = []
    return function  # type: ignore[no-any-return]


def malloc_in_use_bytes() -> int | None:
    """Bytes malloc has handed out and not had back, or None where glibc cannot tell."""
    # RSS also counts memory freed but kept by the allocator, which rises in steps under
    # load and stays; this does not, so a steady rise of it per job is a real leak.
    function = _mallinfo2()
    if function is None:
        return None
    info = function()
    return int(info.uordblks) + int(info.hblkhd)  # heap chunks in use + mmapped chunks
