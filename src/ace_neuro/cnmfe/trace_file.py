"""Evaluate's estimates with the ``(K, T)`` traces left in the file: read a block at a time, copied to the outputs.

Issue 23 item 1 (every rule's peak memory flat in the recording's length): the evaluate step needs the traces
``C``, ``S`` and ``YrA`` only through per-component statistics (read a block of rows at a time,
:mod:`~ace_neuro.cnmfe.trace_rows`), the r-values' windows of frames (``C[:, f0:f1]``) and the traces figure's few
rows, and it writes them unchanged. :func:`open_file_estimates` reads everything else of ``cnmfe/estimates.h5``
into an :class:`~ace_neuro.cnmfe.estimates.Estimates` of no frames and gives the traces as :class:`TraceDataset`
objects (HDF5 datasets read on demand, indexed like arrays); :func:`write_file_estimates` and
:func:`write_file_caiman` write evaluate's two estimates files as
:func:`~ace_neuro.cnmfe.estimates_file.save_estimates` and :func:`~ace_neuro.io.caiman.export_caiman_hdf5` do, the
traces copied dataset to dataset by HDF5 (their stored chunks, compressed or not: the same values, no array in
memory). At 54,000 frames and 260 components the traces were 170 MB of float32 held for the whole step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.cnmfe.estimates_file import load_estimates, open_estimates_file
from ace_neuro.io.atomic import atomic_path

__all__ = ["TRACE_FIELDS", "TraceDataset", "FileEstimates", "open_file_estimates", "write_file_estimates",
           "write_file_caiman"]

#: The ``(K, T)`` traces left in the file (``f``, the ``(nb, T)`` low-rank background, is small and read whole).
TRACE_FIELDS = ("C", "S", "YrA")
#: HDF5's chunk cache per dataset (bytes): a row of compressed chunks of 54,000 frames (14 chunks of 128 KB) fits,
#: so consecutive rows read one after the other decompress each chunk once.
_CHUNK_CACHE_BYTES = 16 * 2**20


class TraceDataset:
    """A ``(K, T)`` float32 dataset of an open estimates file, read on demand and indexed like an array.

    ``x[k]`` (one row), ``x[a:b]`` (rows), ``x[rows]`` (an integer array: rows in that order), ``x[k, cols]`` and
    ``x[rows, f0:f1]`` return ndarrays; ``numpy.asarray(x)`` reads the whole dataset.

    Parameters
    ----------
    dataset : h5py.Dataset
        2-D, ``(K, T)``.
    """

    def __init__(self, dataset: h5py.Dataset) -> None:
        if dataset.ndim != 2:
            raise ValueError(f"{dataset.name}: traces must be (K, T), got shape {dataset.shape}")
        self.dataset = dataset
        self.shape = tuple(int(n) for n in dataset.shape)
        self.dtype = dataset.dtype
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self.dataset[()]
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def _rows(self, rows) -> np.ndarray:
        """Rows ``rows`` (int, slice or integer array) as a 2-D ndarray (one row: 1-D)."""
        if isinstance(rows, (int, np.integer)):
            k = int(rows) + (self.shape[0] if rows < 0 else 0)
            if not 0 <= k < self.shape[0]:
                raise IndexError(f"row {rows} out of range for {self.shape[0]} components")
            return self.dataset[k]
        if isinstance(rows, slice):
            start, stop, step = rows.indices(self.shape[0])
            block = self.dataset[start:stop] if stop > start else np.zeros((0, self.shape[1]), self.dtype)
            return block[::step] if step != 1 else block
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64).reshape(-1)
        if rows.size == 0:
            return np.zeros((0, self.shape[1]), self.dtype)
        unique, inverse = np.unique(rows, return_inverse=True)  # h5py reads increasing rows
        return self.dataset[unique][inverse]

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, tuple):
            return self._rows(key)
        if len(key) != 2:
            raise IndexError(f"traces are 2-D, got an index of {len(key)} dimensions")
        rows, cols = key
        if isinstance(rows, slice) and isinstance(cols, slice) and cols.step in (None, 1):
            start, stop, _ = cols.indices(self.shape[1])  # a window of frames of a block of rows
            return self._rows(rows)[:, :0] if stop <= start else self.dataset[rows, start:stop]
        return self._rows(rows)[..., cols]


class FileEstimates:
    """An :class:`~ace_neuro.cnmfe.estimates.Estimates` whose traces ``C``, ``S``, ``YrA`` stay in the file.

    Attributes other than the traces come from ``fields`` (an ``Estimates`` of the same components and no frames);
    ``C``, ``S`` and ``YrA`` are :class:`TraceDataset` objects and ``f`` the ``(nb, T)`` array. Close it (or use
    ``with``) when done.
    """

    def __init__(self, fields: Estimates, traces: dict[str, TraceDataset], f: np.ndarray, h5: h5py.File,
                 path: Path) -> None:
        self._fields, self._traces, self._h5, self.path = fields, traces, h5, path
        self.f = f

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in TRACE_FIELDS:
            return self._traces[name]
        return getattr(self._fields, name)

    @property
    def fields(self) -> Estimates:
        """Everything but the traces (``C``, ``S``, ``YrA`` of no frames, ``f`` of none)."""
        return self._fields

    @property
    def n_components(self) -> int:
        return self._fields.n_components

    @property
    def n_frames(self) -> int:
        return self._traces["C"].shape[1]

    def replace(self, **changes: Any) -> "FileEstimates":
        """A copy with ``changes`` to fields other than the traces (the same open file)."""
        if set(changes) & set(TRACE_FIELDS + ("f",)):
            raise ValueError(f"the traces of {self.path} are read from the file; they cannot be replaced")
        return FileEstimates(self._fields.replace(**changes), self._traces, self.f, self._h5, self.path)

    def close(self) -> None:
        self._h5.close()

    def __enter__(self) -> "FileEstimates":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_file_estimates(path: str | os.PathLike) -> FileEstimates:
    """Read ``path`` (our estimates file) but its traces, which are read on demand.

    Parameters
    ----------
    path : path-like
        An ``estimates.h5`` written by :func:`~ace_neuro.cnmfe.estimates_file.save_estimates`.

    Returns
    -------
    FileEstimates
        Open on ``path``; the caller closes it.
    """
    path = Path(path)
    open_estimates_file(path, missing_hint="run the cnmfe step first").close()  # the layout checks
    h5 = h5py.File(path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES, rdcc_nslots=10007)
    try:
        traces = {name: TraceDataset(h5[name]) for name in TRACE_FIELDS}
        n_comp, n_frames = traces["C"].shape
        for name in ("S", "YrA"):
            if traces[name].shape != (n_comp, n_frames):
                raise ValueError(f"{path}: {name} has shape {traces[name].shape}, C {(n_comp, n_frames)}")
        fields = load_estimates(path, without_traces=True)
        f = h5["f"][()] if "f" in h5 else np.zeros((0, n_frames), np.float32)
        if fields.b.shape[1] != f.shape[0] or f.shape[1] != n_frames:
            raise ValueError(f"{path}: f has shape {f.shape} for {fields.b.shape[1]} background components and "
                             f"{n_frames} frames")
    except BaseException:
        h5.close()
        raise
    return FileEstimates(fields, traces, np.asarray(f, np.float32), h5, path)


def _copy_traces(source: FileEstimates, group: h5py.Group, names: dict[str, str]) -> None:
    """Replace the no-frame datasets ``names`` (our name -> name in ``group``) by copies of ``source``'s traces."""
    for ours, theirs in names.items():
        if theirs in group:
            del group[theirs]
        if ours == "f":
            from ace_neuro.cnmfe.estimates_file import storage_options

            group.create_dataset(theirs, data=source.f, **storage_options(theirs, source.f))
        else:
            group.copy(source._traces[ours].dataset, theirs)  # HDF5's copy: the stored chunks, the same values


def write_file_estimates(evaluated: FileEstimates, path: str | os.PathLike) -> Path:
    """Write ``evaluated`` as :func:`~ace_neuro.cnmfe.estimates_file.save_estimates` does, its traces copied."""
    from ace_neuro.cnmfe.estimates_file import save_estimates

    path = Path(path)
    with atomic_path(path) as tmp:
        save_estimates(evaluated.fields, tmp)
        with h5py.File(tmp, "r+") as h5:
            _copy_traces(evaluated, h5, {"C": "C", "S": "S", "YrA": "YrA", "f": "f"})
    return path


def write_file_caiman(evaluated: FileEstimates, path: str | os.PathLike, *,
                      mmap_file: str | os.PathLike | None = None) -> Path:
    """Write ``evaluated`` as :func:`~ace_neuro.io.caiman.export_caiman_hdf5` does, its traces copied.

    CaImAn's ``R`` is a hard link to ``YrA``, as there; ``f`` is copied when written (a low-rank background without
    the ring model).
    """
    from ace_neuro.io.caiman import export_caiman_hdf5

    path = Path(path)
    with atomic_path(path) as tmp:
        export_caiman_hdf5(evaluated.fields, tmp, mmap_file=mmap_file)
        with h5py.File(tmp, "r+") as h5:
            group = h5["estimates"]
            names = {"C": "C", "S": "S", "YrA": "YrA"}
            if isinstance(group.get("f"), h5py.Dataset) and group["f"].dtype != object:
                names["f"] = "f"
            _copy_traces(evaluated, group, names)
            del group["R"]
            group["R"] = group["YrA"]
    return path


def write_file_evaluate_outputs(evaluated: FileEstimates, curated: np.ndarray, *, estimates_out: str | os.PathLike,
                                components_csv: str | os.PathLike, caiman_out: str | os.PathLike,
                                mmap_file: str | os.PathLike | None, traces_png: str | os.PathLike | None = None
                                ) -> Estimates:
    """The evaluate step's files, as :func:`~ace_neuro.cnmfe.outputs.write_evaluate_outputs` writes them, from
    estimates whose traces stay in their file (the curation's decisions already applied).

    Parameters
    ----------
    evaluated : FileEstimates
        Evaluated (and curated) estimates.
    curated : ndarray of bool, shape (K,)
        Components a curation decision set (``components.csv``'s ``decided_by``).
    estimates_out, components_csv, caiman_out, mmap_file, traces_png
        As :func:`~ace_neuro.cnmfe.outputs.write_evaluate_outputs`.

    Returns
    -------
    Estimates
        ``evaluated.fields``: the evaluated estimates without their traces (``C`` of no frames).
    """
    from ace_neuro.cnmfe.curation import components_table
    from ace_neuro.cnmfe.figures import traces_figure  # noqa: PLC0415  (matplotlib only here)

    write_file_estimates(evaluated, estimates_out)
    with atomic_path(components_csv) as tmp:
        components_table(evaluated.fields, curated).to_csv(tmp, index=False)
    write_file_caiman(evaluated, caiman_out, mmap_file=None if mmap_file is None else Path(mmap_file))
    if traces_png is not None:
        traces_figure(evaluated, traces_png)
    return evaluated.fields
