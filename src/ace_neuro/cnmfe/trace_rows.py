"""Row blocks of the ``(K, T)`` traces, so evaluate's per-component statistics hold a few rows in float64 at a time.

Evaluate's statistics (SNR, peaks, skewness, noise autocorrelation, trace correlations) are computed trace by
trace; converting all of ``C`` or ``C + YrA`` to float64 at once made evaluate's peak memory grow with the
recording's length (issue 23 item 1). The helpers here give the same rows, bit for bit, a block at a time:
each row's float64 values are ``float64(C[k]) + float64(YrA[k])``, what the whole-array expression gives.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = ["BLOCK_BYTES", "row_blocks", "RawTraceRows"]

#: Bytes of float64 rows converted at a time (at least one row): 4 MiB, ~9 rows of 54,000 frames.
BLOCK_BYTES = 4 * 2**20


def row_blocks(n_rows: int, n_columns: int, block_bytes: int | None = None) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive blocks of rows whose float64 values fit in ``block_bytes``.

    Parameters
    ----------
    n_rows, n_columns : int
        Shape of the ``(K, T)`` array.
    block_bytes : int, optional
        Budget of one block in float64 bytes; default :data:`BLOCK_BYTES` (read when called).

    Yields
    ------
    (int, int)
        Row ranges covering ``0 .. n_rows``, each of at least one row.

    Examples
    --------
    >>> list(row_blocks(5, 1000, block_bytes=16000))
    [(0, 2), (2, 4), (4, 5)]
    """
    budget = BLOCK_BYTES if block_bytes is None else int(block_bytes)
    step = max(1, budget // max(1, 8 * int(n_columns)))
    for start in range(0, int(n_rows), step):
        yield start, min(start + step, int(n_rows))


class RawTraceRows:
    """The raw traces ``C + YrA`` in float64, one row (or block of rows) at a time.

    Parameters
    ----------
    C : ndarray, shape (K, T)
        Denoised traces.
    YrA : ndarray, shape (K, T), or None
        Residual traces; None = ``C`` alone.

    Examples
    --------
    >>> C = np.arange(6, dtype=np.float32).reshape(2, 3); raw = RawTraceRows(C, np.ones_like(C))
    >>> raw.shape, raw[1].tolist()
    ((2, 3), [4.0, 5.0, 6.0])
    """

    def __init__(self, C: np.ndarray, YrA: np.ndarray | None = None) -> None:
        if YrA is not None and np.shape(YrA) != np.shape(C):
            raise ValueError(f"YrA has shape {np.shape(YrA)} but C has {np.shape(C)}")
        self.C, self.YrA = C, YrA

    @property
    def shape(self) -> tuple[int, int]:
        """``(K, T)``."""
        return tuple(np.shape(self.C))

    def __len__(self) -> int:
        return int(np.shape(self.C)[0])

    def rows(self, start: int, stop: int) -> np.ndarray:
        """``(stop - start, T)`` float64: rows ``start .. stop - 1``."""
        block = np.asarray(self.C[start:stop], np.float64)
        if self.YrA is not None:
            block = block + self.YrA[start:stop]
        return block

    def __getitem__(self, k: int) -> np.ndarray:
        """``(T,)`` float64: row ``k``."""
        k = int(k)
        return self.rows(k, k + 1)[0] if k >= 0 else self.rows(len(self) + k, len(self) + k + 1)[0]
