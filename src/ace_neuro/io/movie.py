"""Movies on disk, read and written in chunks of frames.

Two formats:

* **TIFF** (``.tif``): uncompressed, contiguous ImageJ hyperstack (axes TYX),
  uint8/uint16/float32. Fiji opens it; :func:`open_movie` memory-maps it.
* **CaImAn memory map** (``.mmap``): raw float32, array of shape ``(H*W, T)``
  stored in C order (pixel ``row + col * H``); its functions are in
  :mod:`ace_neuro.io.memmap` and re-exported here.

Every function here streams: no function loads a whole movie into memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import tifffile

from ace_neuro.io.disk import preallocate

from .memmap import (  # the memory-map functions live in io/memmap.py; re-exported here
    BlocksMovie,
    frames_view,
    caiman_memmap_name,
    create_caiman_memmap,
    find_caiman_memmap,
    open_caiman_memmap,
    parse_caiman_memmap_name,
    release_pages,
)

__all__ = [
    "open_movie",
    "create_tiff",
    "caiman_memmap_name",
    "parse_caiman_memmap_name",
    "create_caiman_memmap",
    "open_caiman_memmap",
    "frame_chunks",
    "chunk_frames_for",
    "find_caiman_memmap",
    "release_pages",
]


def frame_chunks(n_frames: int, chunk_frames: int) -> Iterator[slice]:
    """Consecutive slices ``[start, stop)`` that cover ``range(n_frames)``.

    Examples
    --------
    >>> [(s.start, s.stop) for s in frame_chunks(5, 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    for start in range(0, int(n_frames), int(chunk_frames)):
        yield slice(start, min(start + chunk_frames, n_frames))


def chunk_frames_for(frame_shape: tuple[int, int], budget_mb: float = 256.0, itemsize: int = 4) -> int:
    """Number of frames whose ``itemsize``-byte pixels fit in ``budget_mb``.

    Chunk sizes are set from a memory budget, never from the recording length,
    so peak memory does not grow with the number of frames.
    """
    frame_bytes = int(np.prod(frame_shape)) * itemsize
    return max(1, int(budget_mb * 2**20 // frame_bytes))


def create_tiff(path: str | os.PathLike, shape: tuple[int, int, int], dtype, frame_rate: float | None = None) -> np.memmap:
    """Create an uncompressed ImageJ TIFF movie and return it as a writable memory map.

    Parameters
    ----------
    path : path-like
        Output file (``.tif``).
    shape : (T, H, W) tuple of int
        Frames, rows, columns.
    dtype : numpy dtype
        ``uint8``, ``uint16`` or ``float32``.
    frame_rate : float, optional
        Frames per second, stored in the ImageJ metadata.

    Returns
    -------
    numpy.memmap of shape (T, H, W)
        Fill it chunk by chunk, then ``flush()``.

    Raises
    ------
    ace_neuro.io.disk.DiskSpaceError
        If the file system cannot hold the file: its blocks are reserved before
        it is mapped, so a full disk fails here, not with a ``SIGBUS`` mid-write.
    """
    metadata: dict = {"axes": "TYX"}
    if frame_rate:
        metadata["fps"] = float(frame_rate)
    movie = tifffile.memmap(os.fspath(path), shape=tuple(int(s) for s in shape), dtype=np.dtype(dtype), imagej=True, metadata=metadata)
    preallocate(path, os.path.getsize(path))
    return movie


def open_movie(path: str | os.PathLike) -> np.ndarray:
    """Memory-map a movie as a read-only ``(T, H, W)`` array, whatever its format.

    Parameters
    ----------
    path : path-like
        An uncompressed TIFF (ours or any contiguous one), a CaImAn ``.mmap``
        or the motion step's frame-block file (``.blocks``).

    Returns
    -------
    numpy.ndarray or BlocksMovie of shape (T, H, W)
        A memory-mapped view (a :class:`~ace_neuro.io.memmap.BlocksMovie` for a
        ``.blocks`` file): slicing reads only the frames asked for.

    Raises
    ------
    FileNotFoundError, ValueError
        If the file is missing, or is a TIFF that cannot be memory-mapped
        (compressed or not contiguous); the message says what to do.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: movie file not found")
    if path.suffix == ".blocks":
        return BlocksMovie(path)
    if path.suffix == ".mmap":
        yr, (height, width), n_frames = open_caiman_memmap(path)
        return frames_view(yr, height, width, n_frames)
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            movie = tifffile.memmap(os.fspath(path), mode="r")
        except ValueError as err:
            raise ValueError(
                f"{path}: this TIFF cannot be memory-mapped ({err}); write it uncompressed and contiguous "
                "(the convert step does)"
            ) from err
        if movie.ndim == 2:
            movie = movie[np.newaxis]
        if movie.ndim != 3:
            raise ValueError(f"{path}: expected a single-channel movie (T, H, W), got shape {movie.shape}")
        return movie
    raise ValueError(f"{path}: unknown movie format {path.suffix!r}; expected .tif, CaImAn .mmap or .blocks")
