"""Traces kept in a scratch file during a streaming pass, read a chunk of frames at a time.

The chunk-heavy passes of the refinement (the ring fit, ``temporal_stats``) read the traces ``C`` of a chunk of
frames only (``C[:, t0:t1]``); holding the whole ``K x T`` float32 array through them is one array more at the
phase where the chunks read ahead are in memory too. :class:`TraceFile` writes the traces frame-major to a file and
reads the columns of a chunk with ``os.pread`` (not a memory map: mapped pages would count in the resident
memory), the same values bit for bit.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

__all__ = ["TraceFile"]

#: Bytes of traces written or read back at a time.
_BLOCK_BYTES = 32 * 2**20


class TraceFile:
    """``(K, T)`` float32 traces in a temporary file, frames major (frame ``t``'s ``K`` values together).

    Parameters
    ----------
    traces : ndarray, shape (K, T)
        Written as float32 (the traces of a :class:`~.passes.ModelState` are float32: the same values).
    folder : path-like, optional
        Where the file goes (removed by :meth:`close`); the system's temporary folder by default.
    """

    def __init__(self, traces: np.ndarray, folder: str | os.PathLike | None = None) -> None:
        self.shape = (int(traces.shape[0]), int(traces.shape[1]))
        handle, self.path = tempfile.mkstemp(prefix="traces_", suffix=".f32", dir=folder)
        self._fd = handle
        n_comp, n_frames = self.shape
        step = self._frames_per_block()
        with os.fdopen(os.dup(handle), "wb") as out:
            for t0 in range(0, n_frames, step):
                out.write(np.ascontiguousarray(traces[:, t0:t0 + step].T, dtype=np.float32).tobytes())

    def _frames_per_block(self) -> int:
        return max(1, _BLOCK_BYTES // (4 * max(1, self.shape[0])))

    def columns(self, t0: int, t1: int) -> np.ndarray:
        """The traces of frames ``t0:t1``, ``(K, t1 - t0)`` float32, C-contiguous."""
        n_comp = self.shape[0]
        t0, t1 = int(t0), int(t1)
        nbytes = 4 * n_comp * (t1 - t0)
        data = os.pread(self._fd, nbytes, 4 * n_comp * t0)
        if len(data) != nbytes:
            raise OSError(f"{self.path}: read {len(data)} of {nbytes} bytes")
        return np.ascontiguousarray(np.frombuffer(data, np.float32).reshape(t1 - t0, n_comp).T)

    def read(self, dtype=np.float32) -> np.ndarray:
        """All the traces, ``(K, T)`` of ``dtype`` (float32: the values written; float64: each exactly)."""
        n_comp, n_frames = self.shape
        out = np.empty(self.shape, dtype)
        step = self._frames_per_block()
        for t0 in range(0, n_frames, step):
            t1 = min(n_frames, t0 + step)
            out[:, t0:t1] = self.columns(t0, t1)
        return out

    def close(self) -> None:
        """Close and remove the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            try:
                os.remove(self.path)
            except OSError:  # gone already; else the step's scratch folder, removed with the step, holds it
                pass

    def __enter__(self) -> "TraceFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
