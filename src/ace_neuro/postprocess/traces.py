"""The accepted neurons' traces of an estimates file, checked against the recording's frame table.

:func:`read_accepted_traces` reads them whole; :class:`AcceptedTraceFile` a block of components or of frames
at a time, for the steps whose memory must not grow with the recording's length (events, export, spectral).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

__all__ = ["AcceptedTraces", "read_accepted_traces", "AcceptedTraceFile", "BLOCK_BYTES"]


class AcceptedTraces(NamedTuple):
    """Traces of the accepted components of an estimates file.

    Attributes
    ----------
    index : ndarray of int, shape (K,)
        Index of each accepted component in the estimates (``idx_components``).
    n_components : int
        Components in the estimates, accepted or not.
    C : ndarray of float64, shape (K, T)
        Denoised traces.
    YrA : ndarray of float64, shape (K, T)
        Residuals (``C + YrA`` is the raw trace); zeros when the file has none.
    S : ndarray of float64, shape (K, T), or None
        Deconvolved activity, if the file has it.
    sn : ndarray of float64, shape (K,), or None
        Noise standard deviation of each trace (``neurons_sn``), if the file has it.
    """

    index: np.ndarray
    n_components: int
    C: np.ndarray
    YrA: np.ndarray
    S: np.ndarray | None
    sn: np.ndarray | None


def read_accepted_traces(
    estimates_path: str | os.PathLike, *, n_frames: int, frames_path: str | os.PathLike
) -> AcceptedTraces:
    """Read the accepted components' traces and check they cover the recording's frames.

    Parameters
    ----------
    estimates_path : path-like
        Estimates HDF5 (:func:`ace_neuro.cnmfe.estimates.load_estimates`).
    n_frames : int
        Frames of the recording (rows of ``frames.csv``).
    frames_path : path-like
        ``frames.csv``, named in the error message.

    Raises
    ------
    ValueError
        If the traces and the frame table disagree on the number of frames.
    """
    from ace_neuro.cnmfe.estimates_file import load_estimates

    est = load_estimates(estimates_path)
    accepted = np.flatnonzero(est.accepted)
    C = np.asarray(est.C, dtype=np.float64)[accepted]
    YrA = np.zeros_like(C) if est.YrA is None else np.asarray(est.YrA, dtype=np.float64)[accepted]
    S = None if est.S is None else np.asarray(est.S, dtype=np.float64)[accepted]
    sn = None if est.neurons_sn is None else np.asarray(est.neurons_sn, dtype=np.float64)[accepted]
    n_traces = est.C.shape[1]
    if n_traces != n_frames:
        raise ValueError(
            f"{estimates_path} has traces of {n_traces} frames but {frames_path} lists {n_frames} frames; "
            "both must come from the same recording (re-run the pipeline for this recording)"
        )
    return AcceptedTraces(accepted, int(est.C.shape[0]), C, YrA, S, sn)


#: Bytes of one (components x frames) float64 block the streaming readers aim at: a block of components over all
#: frames, or all components over a block of frames, so the steps' memory is flat in the recording's length
#: (a step holds a few such arrays at once; 1 MiB = 2 components of a 45-minute recording at 20 Hz).
BLOCK_BYTES = 2**20


class AcceptedTraceFile:
    """The accepted components' traces of an estimates file, read a block at a time (no K x T array in memory).

    Opens the file with :func:`~ace_neuro.cnmfe.estimates_file.open_estimates_file` (same checks as
    :func:`read_accepted_traces`) and reads slices of its ``C``, ``YrA`` and ``S`` datasets on demand: a block
    of components over all frames (:meth:`component_blocks`, :meth:`rows`) or all accepted components over a
    block of frames (:meth:`frame_blocks`, :meth:`frames`). Values are those of :func:`read_accepted_traces`
    converted to the dtype asked for, so a step computing row by row (or frame by frame) gives the same bits
    as on the whole array. Use as a context manager.

    Parameters
    ----------
    estimates_path : path-like
        Estimates HDF5 (``docs/estimates.md``).
    n_frames : int, optional
        Frames of the recording (rows of ``frames.csv``); checked against the traces when given.
    frames_path : path-like, optional
        ``frames.csv``, named in the error message.

    Attributes
    ----------
    index : ndarray of int64, shape (K,)
        Index of each accepted component in the estimates (all but ``idx_components_bad``).
    n_components : int
        Components in the estimates, accepted or not.
    n_frames : int
        Frames T of the traces.
    has_residuals, has_activity : bool
        Whether the file holds ``YrA`` / ``S`` (:meth:`rows` gives zeros for a missing ``YrA``).
    sn : ndarray of float64, shape (K,), or None
        ``neurons_sn`` of the accepted components.

    Raises
    ------
    ValueError
        The traces and ``n_frames`` disagree, or the trace datasets disagree on their shape.
    """

    def __init__(self, estimates_path: str | os.PathLike, *, n_frames: int | None = None,
                 frames_path: str | os.PathLike | None = None) -> None:
        from ace_neuro.cnmfe.estimates_file import open_estimates_file

        self._h5 = open_estimates_file(estimates_path, missing_hint="run the cnmfe step first")
        self._path = os.fspath(estimates_path)
        try:
            self._check(estimates_path, n_frames, frames_path)
        except BaseException:
            self._h5.close()
            raise

    def _check(self, path, n_frames, frames_path) -> None:
        h5 = self._h5
        shape = tuple(h5["C"].shape)
        for name in ("YrA", "S"):
            if name in h5 and tuple(h5[name].shape) != shape:
                raise ValueError(f"{path}: inconsistent estimates file: {name} has shape {h5[name].shape}, "
                                 f"C {shape}")
        self.n_components, self.n_frames = int(shape[0]), int(shape[1])
        if n_frames is not None and self.n_frames != int(n_frames):
            raise ValueError(
                f"{path} has traces of {self.n_frames} frames but {frames_path} lists {n_frames} frames; "
                "both must come from the same recording (re-run the pipeline for this recording)"
            )
        accepted = np.ones(self.n_components, dtype=bool)
        if "idx_components_bad" in h5:
            accepted[h5["idx_components_bad"][()]] = False
        self.index = np.flatnonzero(accepted).astype(np.int64)
        self.has_residuals = "YrA" in h5
        self.has_activity = "S" in h5
        self.sn = (_as(h5["neurons_sn"][()], np.float64)[self.index]
                   if "neurons_sn" in h5 else None)

    def __enter__(self) -> "AcceptedTraceFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._h5.close()

    def component_blocks(self, itemsize: int = 8, block_bytes: int | None = None) -> list[slice]:
        """Slices of :attr:`index`: blocks of accepted components whose ``(block, T)`` arrays hold ``block_bytes``.

        ``block_bytes`` defaults to :data:`BLOCK_BYTES`.
        At least one component per block; one empty slice when no component is accepted (so a step still
        writes its empty outputs).
        """
        block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
        size = max(1, int(block_bytes) // max(1, self.n_frames * int(itemsize)))
        return [slice(s, min(s + size, self.index.size)) for s in range(0, self.index.size, size)] or [slice(0, 0)]

    def frame_blocks(self, itemsize: int = 8, block_bytes: int | None = None) -> list[slice]:
        """Slices of the frames: blocks whose ``(all components, block)`` arrays hold ``block_bytes`` (>= 64 frames).

        ``block_bytes`` defaults to :data:`BLOCK_BYTES`.
        """
        block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
        size = max(64, int(block_bytes) // max(1, self.n_components * int(itemsize)))
        return [slice(s, min(s + size, self.n_frames)) for s in range(0, self.n_frames, size)]

    def rows(self, name: str, block: slice, dtype=np.float64) -> np.ndarray | None:
        """Dataset ``name`` (``'C'``, ``'YrA'`` or ``'S'``) of the accepted components ``index[block]``, all frames.

        Returns
        -------
        ndarray, shape (len(index[block]), T), or None
            In ``dtype``; zeros for a missing ``YrA``, None for a missing ``S``.
        """
        ids = self.index[block]
        if name not in self._h5:
            return np.zeros((ids.size, self.n_frames), dtype=dtype) if name == "YrA" else None
        if ids.size == 0:
            return np.zeros((0, self.n_frames), dtype=dtype)
        return _as(self._h5[name][ids], dtype)  # h5py reads the increasing indices only

    def frames(self, name: str, block: slice, dtype=np.float64) -> np.ndarray | None:
        """Dataset ``name`` of every accepted component over the frames ``block``.

        Returns
        -------
        ndarray, shape (K, len(block)), or None
            In ``dtype``; zeros for a missing ``YrA``, None for a missing ``S``.
        """
        start, stop, _ = block.indices(self.n_frames)
        n = max(0, stop - start)
        if name not in self._h5:
            return np.zeros((self.index.size, n), dtype=dtype) if name == "YrA" else None
        dataset = self._h5[name]
        offset = dataset.id.get_offset()
        if offset is None or dataset.chunks is not None or self.index.size == 0 or n == 0:
            return _as(dataset[:, start:stop], dtype)[self.index]
        return _as(_read_row_segments(self._path, offset, dataset.dtype, self.n_frames, self.index, start, n), dtype)


def _as(values: np.ndarray, dtype) -> np.ndarray:
    """``values`` as :class:`~ace_neuro.cnmfe.estimates.Estimates` holds them (float32), then in ``dtype``."""
    return np.asarray(values, dtype=np.float32).astype(dtype, copy=False)


def _read_row_segments(path: str, offset: int, dtype: np.dtype, n_columns: int, rows: np.ndarray, start: int,
                       n: int) -> np.ndarray:
    """Columns ``start:start + n`` of ``rows`` of a contiguous, uncompressed 2-D HDF5 dataset, read from its bytes.

    HDF5 reads such a selection (a short segment of each of many rows) one sieve buffer at a time, ~8x the CPU
    of reading the segments themselves (0.36 against 0.05 CPU s for 300 rows x 54,000 frames in blocks).

    Parameters
    ----------
    path : str
        The HDF5 file.
    offset : int
        Byte offset of the dataset's data in the file (``dataset.id.get_offset()``).
    dtype : numpy dtype
        The dataset's element type (with its byte order).
    n_columns : int
        Columns of the dataset (its row length).
    rows : ndarray of int, shape (R,)
        Rows to read.
    start, n : int
        First column and number of columns.

    Returns
    -------
    ndarray, shape (R, n), of ``dtype``
    """
    dtype = np.dtype(dtype)
    out = np.empty((rows.size, n), dtype=dtype)
    size = n * dtype.itemsize
    with open(path, "rb", buffering=0) as file:
        fd = file.fileno()
        for i, row in enumerate(rows):
            data = os.pread(fd, size, offset + (int(row) * n_columns + start) * dtype.itemsize)
            if len(data) != size:
                raise OSError(f"{path}: short read of a trace dataset (file truncated?)")
            out[i] = np.frombuffer(data, dtype=dtype)
    return out
