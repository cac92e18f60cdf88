"""Thread count of the OpenBLAS libraries loaded in this process (through ctypes).

Registration does many small matrix products; a multi-threaded BLAS competing
with other processes for the cores makes each of them tens of times slower, so
the motion step's processes run with one BLAS thread each. NumPy and SciPy
wheels bundle their own OpenBLAS (``scipy_openblas``); both are handled.
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

__all__ = ["set_blas_threads"]


def _openblas_libraries() -> list:
    """OpenBLAS libraries loaded in this process (Linux: from ``/proc/self/maps``)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    libs = []
    for lib_path in sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps))):
        try:
            libs.append(ctypes.CDLL(lib_path))
        except OSError:
            continue
    return libs


def set_blas_threads(n: int | None) -> int | None:
    """Set the OpenBLAS thread count (``None``: leave it); return the previous count (None if no OpenBLAS)."""
    previous = None
    for lib in _openblas_libraries():
        for suffix in ("64_", ""):
            getter = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None) or getattr(lib, f"openblas_get_num_threads{suffix}", None)
            setter = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None) or getattr(lib, f"openblas_set_num_threads{suffix}", None)
            if getter is not None and setter is not None:
                previous = previous if previous is not None else int(getter())
                if n is not None:
                    setter(ctypes.c_int(int(n)))
                break
    return previous
