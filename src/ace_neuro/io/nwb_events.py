"""The ``processing/ophys/events`` table of a recording's NWB file, written from ``events.csv`` a block of rows at a time.

Each column of the table is a :class:`CsvColumnBlocks`: ``events.csv`` read again for that column only, in blocks
of :data:`EVENT_BLOCK_ROWS` rows, each block handed to HDF5 as it is read, so the writer holds one block of one
column at a time, whatever the number of events. The file's contents are those of whole columns given to pynwb:
the same dtypes (``int64`` indices and frames, ``float64`` times and amplitudes, the method as variable-length
UTF-8 strings), the same values, the same chunking (hdmf's default for the column's length and dtype).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from hdmf.data_utils import AbstractDataChunkIterator, DataChunk

from ace_neuro.io.nwb_ophys import SmallCacheDataIO

__all__ = ["EVENT_BLOCK_ROWS", "CsvColumnBlocks", "count_rows", "add_events"]

#: Rows of ``events.csv`` read at a time (a block of the method column: ~4 MB of Python strings).
EVENT_BLOCK_ROWS = 16384


def count_rows(path: str | os.PathLike, block_rows: int = EVENT_BLOCK_ROWS) -> int:
    """Number of data rows of a CSV file with a header, read a block of rows at a time (first column only)."""
    with pd.read_csv(path, usecols=[0], chunksize=block_rows) as reader:
        return sum(len(block) for block in reader)


class CsvColumnBlocks(AbstractDataChunkIterator):
    """One column of a CSV file as successive 1-D blocks of rows, for hdmf's chunk-by-chunk write.

    Parameters
    ----------
    path : path-like
        A CSV file with a header row.
    column : str or None
        The column read; None for the row numbers ``0, 1, ..., n_rows - 1`` (a table's ids).
    dtype : numpy.dtype
        The dtype of the values written; ``object`` for strings (each value as ``str``).
    n_rows : int
        Number of data rows of ``path`` (:func:`count_rows`).
    block_rows : int
        Rows per block.
    """

    def __init__(self, path: str | os.PathLike, column: str | None, dtype, n_rows: int,
                 block_rows: int = EVENT_BLOCK_ROWS):
        self._path = path
        self._column = column
        self._dtype = np.dtype(dtype)
        self._n_rows = int(n_rows)
        self._block_rows = int(block_rows)
        self._blocks = None
        self._start = 0

    def _read_blocks(self):
        if self._column is None:
            for start in range(0, self._n_rows, self._block_rows):
                yield np.arange(start, min(start + self._block_rows, self._n_rows), dtype=self._dtype)
            return
        with pd.read_csv(self._path, usecols=[self._column], chunksize=self._block_rows) as reader:
            for block in reader:
                values = block[self._column]
                if len(values) == 0:
                    continue
                yield values.astype(str).to_numpy(object) if self._dtype == object else values.to_numpy(self._dtype)

    def __iter__(self):
        return self

    def __next__(self) -> DataChunk:
        if self._blocks is None:
            self._blocks = self._read_blocks()
        values = next(self._blocks)
        start, self._start = self._start, self._start + len(values)
        if self._start > self._n_rows:
            raise ValueError(f"{self._path}: more rows than the {self._n_rows} counted")
        return DataChunk(data=values, selection=np.s_[start : self._start])

    def recommended_chunk_shape(self):
        return None

    def recommended_data_shape(self):
        return (self._n_rows,)

    @property
    def dtype(self):
        return self._dtype

    @property
    def maxshape(self):
        return (None,)

    def __len__(self) -> int:
        return self._n_rows


def _check_rois(events_path, n_rois: int, block_rows: int = EVENT_BLOCK_ROWS) -> None:
    """Raise IndexError when an event's ``neuron`` is not a row of the segmentation table (``0 <= neuron < n_rois``)."""
    with pd.read_csv(events_path, usecols=["neuron"], chunksize=block_rows) as reader:
        for block in reader:
            neuron = block["neuron"].to_numpy(np.int64)
            outside = neuron[(neuron < 0) | (neuron >= n_rois)]
            if outside.size:
                raise IndexError(f"{events_path}: neuron {outside[:5].tolist()} not among the {n_rois} components "
                                 "of the segmentation table")


def add_events(ophys, segmentation, events_path) -> None:
    """Add the ``events`` table (roi, frame, time, amplitude, method) of ``events.csv`` to ``ophys``."""
    from hdmf.common import DynamicTable, DynamicTableRegion, ElementIdentifiers, VectorData

    n = count_rows(events_path)
    _check_rois(events_path, len(segmentation))

    def blocks(column, dtype):
        return SmallCacheDataIO(CsvColumnBlocks(events_path, column, dtype, n))

    columns = [
        DynamicTableRegion(name="roi", data=blocks("neuron", np.int64),
                           description="Component (row of PlaneSegmentation) of each event", table=segmentation,
                           validate_data=False),  # checked above, a block at a time
        VectorData(name="frame", data=blocks("frame", np.int64), description="Frame index (0-based) of the event"),
        VectorData(name="time", data=blocks("time_s", np.float64), description="Event time (s, frame time stamps)"),
        VectorData(name="amplitude", data=blocks("amplitude", np.float64),
                   description="Event amplitude (trace units)"),
        VectorData(name="method", data=blocks("method", object),
                   description="Detection method (derivative or deconvolution)"),
    ]
    ophys.add(
        DynamicTable(
            name="events",
            description=f"Calcium events of the accepted components ({n} events, events/events.csv)",
            columns=columns,
            id=ElementIdentifiers(name="id", data=blocks(None, np.int64)),
        )
    )
