"""Movies on disk, read and written in chunks of frames.

Two formats:

* **TIFF** (``.tif``): uncompressed, contiguous ImageJ hyperstack (axes TYX),
  uint8/uint16/float32. Fiji opens it; :func:`open_movie` memory-maps it.
* **CaImAn memory map** (``.mmap``): raw float32, array of shape ``(H*W, T)``
  stored in C order, where the pixel index flattens ``(row, col)`` in Fortran
  order (``pixel = row + col * H``), so each pixel's time series is contiguous.
  The file name carries the shape:
  ``<base>_d1_<H>_d2_<W>_d3_1_order_C_frames_<T>.mmap``, exactly what
  ``caiman.load_memmap`` expects.

Every function here streams: no function loads a whole movie into memory.
"""

from __future__ import annotations

import mmap
import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np
import tifffile

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
]

_MMAP_RE = re.compile(
    r"_d1_(?P<d1>\d+)_d2_(?P<d2>\d+)_d3_(?P<d3>\d+)_order_(?P<order>[CF])_frames_(?P<T>\d+)\.mmap$"
)


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
    """
    metadata: dict = {"axes": "TYX"}
    if frame_rate:
        metadata["fps"] = float(frame_rate)
    return tifffile.memmap(os.fspath(path), shape=tuple(int(s) for s in shape), dtype=np.dtype(dtype), imagej=True, metadata=metadata)


def caiman_memmap_name(base: str, height: int, width: int, n_frames: int, order: str = "C") -> str:
    """CaImAn's file name for a memory map of shape ``(height*width, n_frames)``.

    Examples
    --------
    >>> caiman_memmap_name("movie", 608, 600, 1000)
    'movie_d1_608_d2_600_d3_1_order_C_frames_1000.mmap'
    """
    return f"{base}_d1_{int(height)}_d2_{int(width)}_d3_1_order_{order}_frames_{int(n_frames)}.mmap"


def parse_caiman_memmap_name(path: str | os.PathLike) -> tuple[int, int, int, str]:
    """``(height, width, n_frames, order)`` from a CaImAn memory-map file name.

    Raises
    ------
    ValueError
        If the name does not follow CaImAn's ``_d1_.._d2_.._d3_.._order_.._frames_..`` pattern.
    """
    match = _MMAP_RE.search(os.path.basename(os.fspath(path)))
    if match is None:
        raise ValueError(
            f"{path}: not a CaImAn memory-map name (expected '<base>_d1_<H>_d2_<W>_d3_1_order_C_frames_<T>.mmap')"
        )
    if int(match["d3"]) != 1:
        raise ValueError(f"{path}: 3-D (d3 > 1) memory maps are not supported")
    return int(match["d1"]), int(match["d2"]), int(match["T"]), match["order"]


def create_caiman_memmap(path: str | os.PathLike, height: int, width: int, n_frames: int) -> np.ndarray:
    """Create a float32 C-order CaImAn memory map and return a writable ``(T, H, W)`` view.

    The file at ``path`` must carry CaImAn's name (see :func:`caiman_memmap_name`,
    a ``.partial`` infix before the suffix is allowed for atomic writes).
    Writing ``view[t0:t1] = frames`` stores each pixel's samples contiguously.
    """
    raw = np.memmap(os.fspath(path), dtype=np.float32, mode="w+", shape=(int(height) * int(width), int(n_frames)), order="C")
    return _frames_view(raw, height, width, n_frames)


def open_caiman_memmap(path: str | os.PathLike, mode: str = "r") -> tuple[np.memmap, tuple[int, int], int]:
    """Open a CaImAn memory map as ``caiman.load_memmap`` does.

    Returns
    -------
    Yr : numpy.memmap of shape (H*W, T), float32
        Pixels (Fortran-flattened) by frames.
    dims : (H, W)
    n_frames : int
    """
    height, width, n_frames, order = parse_caiman_memmap_name(path)
    expected = height * width * n_frames * 4
    size = os.path.getsize(path)
    if size != expected:
        raise ValueError(
            f"{path}: file holds {size} bytes but its name promises {height}x{width}x{n_frames} float32 "
            f"({expected} bytes); the file is truncated or renamed, re-run the step that wrote it"
        )
    yr = np.memmap(os.fspath(path), dtype=np.float32, mode=mode, shape=(height * width, n_frames), order=order)
    return yr, (height, width), n_frames


def _frames_view(yr: np.ndarray, height: int, width: int, n_frames: int) -> np.ndarray:
    # yr[row + col*H, t] == view[t, row, col]; yr.T is Fortran-contiguous, so this is a view.
    return yr.T.reshape((int(n_frames), int(height), int(width)), order="F")


def open_movie(path: str | os.PathLike) -> np.ndarray:
    """Memory-map a movie as a read-only ``(T, H, W)`` array, whatever its format.

    Parameters
    ----------
    path : path-like
        An uncompressed TIFF (ours or any contiguous one) or a CaImAn ``.mmap``.

    Returns
    -------
    numpy.ndarray of shape (T, H, W)
        A memory-mapped view: slicing reads only the frames asked for.

    Raises
    ------
    FileNotFoundError, ValueError
        If the file is missing, or is a TIFF that cannot be memory-mapped
        (compressed or not contiguous); the message says what to do.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: movie file not found")
    if path.suffix == ".mmap":
        yr, (height, width), n_frames = open_caiman_memmap(path)
        return _frames_view(yr, height, width, n_frames)
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
    raise ValueError(f"{path}: unknown movie format {path.suffix!r}; expected .tif or CaImAn .mmap")


def find_caiman_memmap(folder: str | os.PathLike) -> Path:
    """The one CaImAn-named ``.mmap`` file in ``folder`` (the motion step's ``memmap/`` output).

    Raises
    ------
    FileNotFoundError
        If ``folder`` does not exist or holds no CaImAn memory map.
    ValueError
        If it holds more than one (the folder was written by something else).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: memory-map folder not found; run the motion step first")
    found = sorted(p for p in folder.iterdir() if p.is_file() and _MMAP_RE.search(p.name) and ".partial" not in p.name)
    if not found:
        raise FileNotFoundError(f"{folder}: no CaImAn memory map (*_d1_*_d2_*_d3_1_order_C_frames_*.mmap); re-run the motion step")
    if len(found) > 1:
        raise ValueError(f"{folder}: {len(found)} memory maps ({', '.join(p.name for p in found)}); expected exactly one, remove the stale ones")
    return found[0]


def release_pages(array: np.ndarray) -> None:
    """Drop a memory-mapped array's pages from this process's resident memory.

    Reading or writing a memory map leaves its pages mapped into the process, so
    the resident set grows with every frame touched. Calling this after each
    chunk keeps it bounded by the chunk size: the data stay in the OS page cache
    (written pages are flushed by the kernel as usual), only the process's
    mapping of them is released (``madvise(MADV_DONTNEED)``). Arrays that are
    not memory maps (or views of one) are left alone.

    Parameters
    ----------
    array : ndarray
        A ``numpy.memmap`` or any view of one.
    """
    base = array
    while base is not None:
        handle = getattr(base, "_mmap", None)
        if isinstance(handle, mmap.mmap):
            try:
                handle.madvise(mmap.MADV_DONTNEED)
            except (AttributeError, OSError, ValueError):  # no madvise on this platform, or a closed map
                pass
            return
        base = getattr(base, "base", None)
