"""The ``export`` rule's files: the accepted neurons' traces for spreadsheets, R and MATLAB.

``traces.csv`` and ``traces_raw.csv``
    One row per written frame: ``frame`` (0-based), ``time_s`` (the Miniscope clock,
    from ``frames.csv``), ``ephys_time_s`` when the recording was synced, then one
    column per accepted component, named by its component id (the ``neuron`` of
    ``events.csv``, the ``id`` of ``components.csv``): the denoised trace ``C``
    (``traces.csv``) or the raw trace ``C + YrA`` (``traces_raw.csv``), in the
    movie's intensity units (a.u.). Written a block of frames at a time.
``traces.mat``
    MATLAB (v5, compressed; ``scipy.io.savemat``): ``ids`` (1 x K, component ids),
    ``C``, ``raw``, ``S`` (K x T single), ``footprints`` (sparse (H*W) x K double,
    column-major pixels: ``reshape(full(footprints(:, k)), H, W)`` is component k's
    image), ``dims`` ([H W]), ``time_s`` and ``ephys_time_s`` (T x 1; empty when not
    synced), ``frame_rate`` (Hz), ``recording_id`` and ``parameters`` (the estimates'
    parameters as JSON text: ``jsondecode``).

Empty results are valid: with no accepted component the files hold the time columns only
(and K = 0 arrays).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Iterator

import numpy as np
import pandas as pd

from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.frames import read_frame_rate, read_frames_table
from ace_neuro.postprocess.mat_file import ColumnBlocks, write_mat
from ace_neuro.postprocess.traces import AcceptedTraceFile

__all__ = ["write_traces_csv", "write_traces_mat", "run_export_step", "EPHYS_TIME_COLUMN"]

logger = logging.getLogger(__name__)
PathLike = str | os.PathLike

#: Column of the sync step's frame table (and of the exports) holding the ephys time of each frame.
EPHYS_TIME_COLUMN = "ephys_time_s"
_ROWS_PER_BLOCK = 4096
#: MATLAB v5 files store a variable's size in 32 bits (scipy.io.savemat refuses larger ones).
_MAT_VARIABLE_LIMIT = 2**31 - 1024


def write_traces_csv(
    path: PathLike, traces, ids: np.ndarray, time_s: np.ndarray, ephys_time_s: np.ndarray | None = None
) -> None:
    """Write traces as one row per frame and one column per component, atomically, a block of frames at a time.

    Parameters
    ----------
    path : path-like
        The CSV file.
    traces : ndarray, shape (K, T), or iterable of ndarray, shape (K, n_i)
        One trace per component (float; written with 7 significant digits): the whole array, or blocks of
        consecutive frames whose ``n_i`` add up to T (so the K x T array need not be in memory).
    ids : ndarray of int, shape (K,)
        Component ids: the column names.
    time_s : ndarray of float, shape (T,)
        Time of each frame in s (written to the microsecond).
    ephys_time_s : ndarray of float, shape (T,), optional
        Time of each frame on the ephys clock in s; the column is left out when None.
    """
    n_frames = int(np.asarray(time_s).shape[0])
    if isinstance(traces, np.ndarray):
        if traces.shape != (len(ids), n_frames):
            raise ValueError(f"{path}: traces of shape {traces.shape} for {len(ids)} ids and {n_frames} frames")
        traces = (traces[:, s:s + _ROWS_PER_BLOCK] for s in range(0, n_frames, _ROWS_PER_BLOCK))
    columns = ["frame", "time_s"] + ([EPHYS_TIME_COLUMN] if ephys_time_s is not None else [])
    formats = ["%d"] + ["%.6f"] * (len(columns) - 1) + ["%.7g"] * len(ids)
    columns += [str(int(i)) for i in ids]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as out:
        out.write(",".join(columns) + "\n")
        start = 0
        for block in traces:
            block = np.asarray(block)
            stop = start + block.shape[1]
            if block.shape[0] != len(ids) or stop > n_frames:
                raise ValueError(f"{path}: a block of traces of shape {block.shape} at frame {start} for "
                                 f"{len(ids)} ids and {n_frames} frames")
            times = [np.arange(start, stop), time_s[start:stop]]
            if ephys_time_s is not None:
                times.append(ephys_time_s[start:stop])
            np.savetxt(out, np.column_stack([*times, block.T]).astype(np.float64), fmt=formats, delimiter=",")
            start = stop
        if start != n_frames:
            raise ValueError(f"{path}: traces of {start} frames for {n_frames} frames")


def write_traces_mat(path: PathLike, **variables) -> None:
    """Write ``variables`` to a MATLAB v5 file (compressed), atomically.

    Values are what :func:`scipy.io.savemat` takes (arrays, sparse matrices, strings; 1-D arrays are written
    as columns) or :class:`~ace_neuro.postprocess.mat_file.ColumnBlocks` (a single-precision matrix written a
    block of columns at a time: the same bytes as the whole array).
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        write_mat(out, variables)


def run_export_step(
    estimates_path: PathLike,
    frames_path: PathLike,
    metadata_path: PathLike,
    traces_csv: PathLike,
    raw_csv: PathLike,
    traces_mat: PathLike,
    *,
    frames_ephys_path: PathLike | None = None,
    recording_id: str = "",
) -> None:
    """Export the accepted components of an evaluated estimates file (see the module's docstring for the files).

    Raises
    ------
    ValueError
        The estimates, ``frames.csv`` or the sync frame table disagree on the number of frames (names both files).
    """
    from ace_neuro.cnmfe.estimates_file import open_estimates_file

    frames = read_frames_table(frames_path)
    time_s = frames["time_s"].to_numpy(np.float64)
    ephys_time_s = None if frames_ephys_path is None else _ephys_times(frames_ephys_path, len(frames), frames_path)
    with AcceptedTraceFile(estimates_path, n_frames=len(frames), frames_path=frames_path) as traces:
        ids = traces.index
        shape = (ids.size, traces.n_frames)
        nbytes = 4 * shape[0] * shape[1]
        if nbytes >= _MAT_VARIABLE_LIMIT:
            raise ValueError(
                f"{traces_mat}: {ids.size} accepted components x {shape[1]} frames of single precision "
                f"({nbytes / 1e9:.1f} GB) exceed MATLAB v5's 2 GB per variable; read the traces from "
                f"{estimates_path} (h5read) or the NWB file instead, or split the recording"
            )
        logger.info("export: %d accepted of %d components, %d frames%s", ids.size, traces.n_components,
                    len(frames), ", with ephys times" if ephys_time_s is not None else "")
        write_traces_csv(traces_csv, _frame_blocks(traces, "C"), ids, time_s, ephys_time_s)
        write_traces_csv(raw_csv, _frame_blocks(traces, "raw"), ids, time_s, ephys_time_s)
        with open_estimates_file(estimates_path, missing_hint="run the cnmfe step first") as h5:
            footprints, dims, parameters = _footprints(h5, ids), h5.attrs["dims"], _parameters(h5)
        write_traces_mat(
            traces_mat,
            recording_id=recording_id,
            ids=ids.reshape(1, -1).astype(np.float64),
            C=ColumnBlocks(shape, lambda: _frame_blocks(traces, "C")),
            raw=ColumnBlocks(shape, lambda: _frame_blocks(traces, "raw")),
            S=ColumnBlocks(shape, lambda: _frame_blocks(traces, "S")),
            footprints=footprints,
            dims=np.asarray(dims, dtype=np.float64).reshape(1, 2),
            time_s=time_s,
            ephys_time_s=np.zeros(0) if ephys_time_s is None else ephys_time_s,
            frame_rate=float(read_frame_rate(metadata_path)),
            parameters=json.dumps(parameters, default=str),
        )
    logger.info("export: wrote %s, %s and %s", traces_csv, raw_csv, traces_mat)


def _frame_blocks(traces: AcceptedTraceFile, kind: str) -> Iterator[np.ndarray]:
    """The accepted components' ``C``, ``raw`` (``C + YrA``) or ``S`` (zeros if absent), float32, by frame blocks.

    Each block is (K, n) over consecutive frames (:meth:`AcceptedTraceFile.frame_blocks`), so memory holds one
    block whatever the recording's length; the values are those of the whole float32 arrays.
    """
    for block in traces.frame_blocks():
        if kind == "S":
            S = traces.frames("S", block, np.float32)
            yield np.zeros((traces.index.size, block.stop - block.start), np.float32) if S is None else S
            continue
        C = traces.frames("C", block, np.float32)
        yield C if kind == "C" else C + traces.frames("YrA", block, np.float32)


def _footprints(h5, ids: np.ndarray):
    """The accepted components' footprints ``A[:, ids]``, sparse (H*W, K) float64, as the estimates hold them."""
    import scipy.sparse

    group = h5["A"]
    shape = tuple(int(s) for s in group["shape"][()])
    A = scipy.sparse.csc_matrix((group["data"][()], group["indices"][()], group["indptr"][()]), shape=shape)
    A = scipy.sparse.csc_matrix(A, dtype=np.float32)  # as Estimates holds it
    A.sort_indices()
    return A.tocsc()[:, ids].astype(np.float64)


def _parameters(h5) -> dict:
    """The estimates' parameters (their ``params`` JSON text, read back)."""
    text = h5["params"][()]
    return json.loads(text.decode() if isinstance(text, bytes) else text)


def _ephys_times(path: PathLike, n_frames: int, frames_path: PathLike) -> np.ndarray:
    table = pd.read_csv(path)
    if EPHYS_TIME_COLUMN not in table.columns:
        raise ValueError(f"{path}: column {EPHYS_TIME_COLUMN!r} missing; expected the sync step's frame table")
    if len(table) != n_frames:
        raise ValueError(f"{path} lists {len(table)} frames but {frames_path} lists {n_frames}; re-run the sync step")
    return table[EPHYS_TIME_COLUMN].to_numpy(np.float64)
