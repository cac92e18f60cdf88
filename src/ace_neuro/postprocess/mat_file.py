"""MATLAB v5 files whose large matrices are written a block of columns at a time.

:func:`scipy.io.savemat` needs every variable whole in memory (and makes a compressed copy of it): for the
traces of a long recording that is several K x T arrays at once. :func:`write_mat` writes the same file,
byte for byte after the 128-byte header (which holds the time of writing), but takes a large single-precision
matrix as :class:`ColumnBlocks`: its columns (frames) come in blocks, each compressed into the file as it
comes, so memory holds one block. The other variables are written by :func:`scipy.io.savemat` itself.

The layout of a compressed numeric matrix (MathWorks, *MAT-File Format*, version 5): a ``miCOMPRESSED`` tag
(type, byte count), then the zlib stream of a ``miMATRIX`` element: its tag, the array flags (class
``mxSINGLE_CLASS``), the dimensions (``miINT32``), the name (``miINT8``, in the tag when 4 bytes or fewer),
and the real part (``miSINGLE``, column-major, padded to 8 bytes).
"""

from __future__ import annotations

import zlib
from typing import Callable, Iterable, NamedTuple

import numpy as np

__all__ = ["ColumnBlocks", "write_mat"]

# MAT-file v5 data types and the single-precision array class (the format's fixed numbers)
_MI_INT8, _MI_INT32, _MI_UINT32, _MI_SINGLE, _MI_MATRIX, _MI_COMPRESSED = 1, 5, 6, 7, 14, 15
_MX_SINGLE_CLASS = 7


class ColumnBlocks(NamedTuple):
    """A 2-D single-precision matrix given as blocks of consecutive columns.

    Attributes
    ----------
    shape : (int, int)
        Rows and columns of the whole matrix (e.g. components x frames).
    blocks : callable
        Called once with no argument; returns an iterable of arrays of shape ``(rows, n_i)`` whose ``n_i`` add
        up to the columns, in column order. Converted to float32.
    """

    shape: tuple[int, int]
    blocks: Callable[[], Iterable[np.ndarray]]


def write_mat(file, variables: dict) -> None:
    """Write ``variables`` to an open binary file as :func:`scipy.io.savemat` does (v5, compressed, 1-D as columns).

    Parameters
    ----------
    file : binary file object, seekable
        Opened for writing at its start.
    variables : dict
        Name -> value, in the order written. A :class:`ColumnBlocks` value is written a block at a time; any
        other value (arrays, sparse matrices, strings) by :func:`scipy.io.savemat`.
    """
    from scipy.io import savemat

    pending: dict = {}
    for name, value in variables.items():
        if isinstance(value, ColumnBlocks) and int(np.prod(value.shape)) * 4 > 4:
            if pending or file.tell() == 0:
                savemat(file, pending, do_compression=True, oned_as="column")  # the file header, at least
                pending = {}
            _write_column_blocks(file, name, value)
        elif isinstance(value, ColumnBlocks):  # empty or one value: no data element to stream
            columns = [np.asarray(b, dtype=np.float32) for b in value.blocks()]
            pending[name] = (np.concatenate(columns, axis=1) if columns
                             else np.zeros(value.shape, dtype=np.float32)).reshape(value.shape)
        else:
            pending[name] = value
    if pending:
        savemat(file, pending, do_compression=True, oned_as="column")


def _tag(mdtype: int, byte_count: int) -> bytes:
    return np.array([mdtype, byte_count], dtype="=u4").tobytes()


def _padding(byte_count: int) -> bytes:
    return b"\x00" * (-byte_count % 8)


def _matrix_header(name: str, shape: tuple[int, int], data_bytes: int) -> bytes:
    """The ``miMATRIX`` element up to its data's tag (included), with the element's total byte count."""
    flags = _tag(_MI_UINT32, 8) + np.array([_MX_SINGLE_CLASS, 0], dtype="=u4").tobytes()
    dims = _tag(_MI_INT32, 8) + np.asarray(shape, dtype="=i4").tobytes()
    encoded = name.encode("latin1")
    if len(encoded) <= 4:
        name_element = np.array([(len(encoded) << 16) + _MI_INT8], dtype="=u4").tobytes() + encoded.ljust(4, b"\x00")
    else:
        name_element = _tag(_MI_INT8, len(encoded)) + encoded + _padding(len(encoded))
    body = flags + dims + name_element + _tag(_MI_SINGLE, data_bytes)
    total = len(body) + data_bytes + len(_padding(data_bytes))
    if total >= 2**32:
        raise ValueError(f"MAT variable {name!r} of shape {shape} is too large for the MATLAB v5 format")
    return _tag(_MI_MATRIX, total) + body


def _write_column_blocks(file, name: str, matrix: ColumnBlocks) -> None:
    """Append ``matrix`` as a compressed ``miMATRIX`` element, compressing each block of columns as it comes."""
    rows, columns = (int(n) for n in matrix.shape)
    data_bytes = rows * columns * 4
    start = file.tell()
    file.write(_tag(_MI_COMPRESSED, 0))  # byte count filled in at the end
    compressor = zlib.compressobj()  # zlib.compress's settings: the same stream as savemat's
    written = _write(file, compressor.compress(_matrix_header(name, (rows, columns), data_bytes)))
    seen = 0
    for block in matrix.blocks():
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[0] != rows:
            raise ValueError(f"MAT variable {name!r}: a block of shape {block.shape} for {rows} rows")
        seen += block.shape[1]
        written += _write(file, compressor.compress(block.tobytes(order="F")))
    if seen != columns:
        raise ValueError(f"MAT variable {name!r}: blocks of {seen} columns for {columns}")
    written += _write(file, compressor.compress(_padding(data_bytes)))
    written += _write(file, compressor.flush())
    end = file.tell()
    file.seek(start)
    file.write(_tag(_MI_COMPRESSED, written))
    file.seek(end)


def _write(file, data: bytes) -> int:
    file.write(data)
    return len(data)
