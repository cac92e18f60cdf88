"""The corrected movie on disk: CaImAn's memory map and the frame-block file, read and written in pieces.

Two layouts of a ``(T, H, W)`` movie, both with the pixel index ``row + col * H``
(CaImAn's Fortran order):

* **CaImAn memory map** (``.mmap``): float32 ``Yr`` of shape ``(H*W, T)`` in C
  order, each pixel's time series contiguous; the name carries the shape,
  ``<base>_d1_<H>_d2_<W>_d3_1_order_C_frames_<T>.mmap``, which is what
  ``caiman.load_memmap`` expects. A rectangle of pixels over all frames is one
  contiguous range; a chunk of frames is scattered over the whole file.
* **Frame blocks** (``.blocks``): consecutive blocks of ``B`` frames (the last
  one shorter), each the ``(H*W, frames)`` pixels-by-frames array, C order,
  float32, float16 or uint8 (an 8-bit movie's corrected frames rounded to the
  nearest grey level and clipped to 0-255: :func:`quantise_uint8`); every
  reader here returns float32 whatever the file holds. A chunk of whole blocks is one contiguous read that
  needs no transposition (what CNMF-E's passes over frames read), and a range
  of pixels of one block is contiguous too (what the transposition into the
  CaImAn layout and the evaluation read). The name carries shape, block length
  and dtype: ``<base>_d1_<H>_d2_<W>_frames_<T>_block_<B>_<dtype>.blocks``.

Reads use positioned reads (``os.preadv``) or short-lived mappings whose pages
are released as they are copied, so no function here keeps file pages mapped:
resident memory is set by the sizes asked for, never by the file's size.
"""

from __future__ import annotations

import functools
import mmap
import os
import re
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

__all__ = [
    "caiman_memmap_name",
    "parse_caiman_memmap_name",
    "create_caiman_memmap",
    "open_caiman_memmap",
    "find_caiman_memmap",
    "release_pages",
    "frames_to_pixels",
    "pixels_to_frames",
    "read_caiman_pixels",
    "blocks_name",
    "parse_blocks_name",
    "find_blocks",
    "find_corrected_movie",
    "find_linkable_movie",
    "BlocksMovie",
    "create_blocks",
    "write_blocks",
    "quantise_uint8",
    "read_blocks",
    "blocks_to_caiman",
    "write_caiman_from_blocks",
    "fill_border_blocks",
]

_MMAP_RE = re.compile(
    r"_d1_(?P<d1>\d+)_d2_(?P<d2>\d+)_d3_(?P<d3>\d+)_order_(?P<order>[CF])_frames_(?P<T>\d+)\.mmap$"
)
_BLOCKS_RE = re.compile(
    r"_d1_(?P<d1>\d+)_d2_(?P<d2>\d+)_frames_(?P<T>\d+)_block_(?P<B>\d+)_(?P<dtype>float32|float16|uint8)\.blocks$"
)
#: Bytes of file pages a read maps at once before releasing them.
_MAP_BYTES = 16 << 20


# ----------------------------------------------------------------------------- pixel order


def _transpose2d(a: np.ndarray) -> np.ndarray:
    """C-contiguous transpose of a 2-D array (OpenCV's blocked transpose for float32, ~3x numpy's)."""
    if a.dtype == np.float32 and a.size and max(a.shape) < 2**31:
        import cv2

        return cv2.transpose(np.ascontiguousarray(a))
    return np.ascontiguousarray(a.T)


def _transpose_frames(a: np.ndarray) -> np.ndarray:
    """C-contiguous ``(n, c, r)`` from ``(n, r, c)``: each frame transposed (OpenCV's blocked transpose for float32).

    The same values as ``np.ascontiguousarray(a.transpose(0, 2, 1))``, in about half the CPU for large float32
    frames (numpy's copy of the transposed view walks one of the two axes with a stride of a whole row). Small
    frames (under 4,096 pixels), where a call per frame would cost more than it saves, are left to numpy.
    """
    if a.dtype != np.float32 or not a.size or a.shape[1] * a.shape[2] < 4096 or max(a.shape) >= 2**31:
        return np.ascontiguousarray(a.transpose(0, 2, 1))
    import cv2

    a = np.ascontiguousarray(a)
    out = np.empty((a.shape[0], a.shape[2], a.shape[1]), np.float32)
    for i in range(a.shape[0]):
        cv2.transpose(a[i], dst=out[i])
    return out


def frames_to_pixels(frames: np.ndarray) -> np.ndarray:
    """``(L, h, w)`` frames as a C-contiguous ``(h*w, L)`` pixels-by-frames array, pixel ``row + col*h``.

    Examples
    --------
    >>> f = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    >>> frames_to_pixels(f)[:, 0].tolist()
    [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ValueError(f"frames must have shape (n, H, W), got {frames.shape}")
    n, h, w = frames.shape
    by_columns = _transpose_frames(frames).reshape(n, w * h)  # each frame Fortran-flat
    return _transpose2d(by_columns)


def pixels_to_frames(pixels: np.ndarray, dims: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`frames_to_pixels`: ``(h*w, L)`` to C-contiguous ``(L, h, w)``."""
    h, w = (int(d) for d in dims)
    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or pixels.shape[0] != h * w:
        raise ValueError(f"pixels must have shape ({h * w}, n) for dims {dims}, got {pixels.shape}")
    return _transpose_frames(_transpose2d(pixels).reshape(-1, w, h))


# ----------------------------------------------------------------------------- CaImAn's memory map


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


def frames_view(yr: np.ndarray, height: int, width: int, n_frames: int) -> np.ndarray:
    """CaImAn's ``(H*W, T)`` array ``yr`` as a ``(T, H, W)`` view, no copy: ``yr[row + col*H, t] == view[t, row, col]``."""
    # yr.T is Fortran-contiguous, so this reshape is a view.
    return yr.T.reshape((int(n_frames), int(height), int(width)), order="F")


def create_caiman_memmap(path: str | os.PathLike, height: int, width: int, n_frames: int) -> np.ndarray:
    """Create a float32 C-order CaImAn memory map and return a writable ``(T, H, W)`` view.

    The file at ``path`` must carry CaImAn's name (see :func:`caiman_memmap_name`,
    a ``.partial`` infix before the suffix is allowed for atomic writes).
    Writing ``view[t0:t1] = frames`` stores each pixel's samples contiguously.
    """
    raw = np.memmap(os.fspath(path), dtype=np.float32, mode="w+", shape=(int(height) * int(width), int(n_frames)), order="C")
    return frames_view(raw, height, width, n_frames)


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


def read_caiman_pixels(
    path: str | os.PathLike, p0: int, p1: int, t0: int, t1: int, *, n_frames: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Pixels ``[p0, p1)`` (CaImAn's flat index) of frames ``[t0, t1)`` of a C-order memory map.

    The file is mapped in windows of at most 16 MB of whole pixel rows; each
    window is copied and unmapped before the next, so the process never holds
    more than one window of file pages, whatever the file's size.

    Parameters
    ----------
    path : path-like
        A C-order float32 CaImAn memory map with ``n_frames`` frames.
    p0, p1, t0, t1 : int
        Pixel and frame ranges.
    n_frames : int
        Frames of the file (its row length).
    out : ndarray of float32, shape (p1 - p0, t1 - t0), optional

    Returns
    -------
    ndarray of float32, shape (p1 - p0, t1 - t0)
    """
    row = 4 * int(n_frames)
    out = np.empty((p1 - p0, t1 - t0), np.float32) if out is None else out
    per_window = max(1, _MAP_BYTES // row)
    page = mmap.ALLOCATIONGRANULARITY
    with open(path, "rb") as handle:
        for a in range(p0, p1, per_window):
            b = min(p1, a + per_window)
            start = a * row
            aligned = start - start % page
            mapped = mmap.mmap(handle.fileno(), b * row - aligned, access=mmap.ACCESS_READ, offset=aligned)
            try:
                rows = np.frombuffer(mapped, np.float32, count=(b - a) * int(n_frames), offset=start - aligned)
                out[a - p0 : b - p0] = rows.reshape(b - a, int(n_frames))[:, t0:t1]
                del rows
            finally:
                mapped.close()
    return out


# ----------------------------------------------------------------------------- frame blocks


def blocks_name(base: str, height: int, width: int, n_frames: int, block_frames: int, dtype="float32") -> str:
    """File name of a frame-block movie.

    Examples
    --------
    >>> blocks_name("corrected", 608, 600, 1000, 44)
    'corrected_d1_608_d2_600_frames_1000_block_44_float32.blocks'
    """
    return f"{base}_d1_{int(height)}_d2_{int(width)}_frames_{int(n_frames)}_block_{int(block_frames)}_{np.dtype(dtype).name}.blocks"


def parse_blocks_name(path: str | os.PathLike) -> tuple[int, int, int, int, np.dtype]:
    """``(height, width, n_frames, block_frames, dtype)`` from a frame-block file name (see :func:`blocks_name`).

    Also checks the file's size when it exists.
    """
    match = _BLOCKS_RE.search(os.path.basename(os.fspath(path)))
    if match is None:
        raise ValueError(
            f"{path}: not a frame-block movie name (expected '<base>_d1_<H>_d2_<W>_frames_<T>_block_<B>_<dtype>.blocks')"
        )
    h, w, t, b, dtype = int(match["d1"]), int(match["d2"]), int(match["T"]), int(match["B"]), np.dtype(match["dtype"])
    if b < 1:
        raise ValueError(f"{path}: block length must be >= 1")
    if os.path.exists(path):
        expected = h * w * t * dtype.itemsize
        size = os.path.getsize(path)
        if size != expected:
            raise ValueError(
                f"{path}: file holds {size} bytes but its name promises {h}x{w}x{t} {dtype.name} ({expected} bytes); "
                "the file is truncated or renamed, re-run the motion step"
            )
    return h, w, t, b, dtype


def find_blocks(folder: str | os.PathLike) -> Path | None:
    """The one frame-block movie in ``folder``, or None when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.is_file() and _BLOCKS_RE.search(p.name) and ".partial" not in p.name)
    if len(found) > 1:
        raise ValueError(f"{folder}: {len(found)} frame-block movies ({', '.join(p.name for p in found)}); expected one")
    return found[0] if found else None


def find_corrected_movie(folder: str | os.PathLike) -> Path:
    """The movie CNMF-E and evaluation read from the motion step's ``memmap/`` folder.

    The frame-block file when the folder has one (fast passes over frames),
    else the CaImAn memory map (read in place).
    """
    return find_blocks(folder) or find_caiman_memmap(folder)


def find_linkable_movie(folder: str | os.PathLike) -> Path:
    """The movie of the motion step's ``memmap/`` folder to link from other files (NWB).

    CaImAn's memory map when the folder has one (CaImAn and a plain
    ``numpy.memmap`` open it), else the frame-block file.
    """
    try:
        return find_caiman_memmap(folder)
    except FileNotFoundError:
        blocks = find_blocks(folder)
        if blocks is None:
            raise
        return blocks


def create_blocks(path: str | os.PathLike) -> None:
    """Create an empty (sparse) frame-block file of the size its name gives."""
    h, w, t, _, dtype = parse_blocks_name(path)
    with open(path, "wb") as handle:
        handle.truncate(h * w * t * dtype.itemsize)


def _write_all(fd: int, data: memoryview, offset: int, path) -> None:
    done = 0
    while done < len(data):
        got = os.pwrite(fd, data[done:], offset + done)
        if got <= 0:
            raise OSError(f"{path}: short write (disk full?)")
        done += got


def _read_all(fd: int, view: memoryview, offset: int, path) -> None:
    done = 0
    while done < len(view):  # large reads may return in parts
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            raise ValueError(f"{path}: short read at byte {offset + done}; the file is truncated")
        done += got


@functools.cache
def _opencv_casts_half() -> bool:
    """Whether this OpenCV's arithmetic converts between float32 and float16 (4.11 cannot)."""
    try:
        cv2.multiply(np.ones((1, 1), np.float32), 1.0, dtype=cv2.CV_16F)
    except cv2.error:
        return False
    return True


def _cast_2d(src: np.ndarray, cv_dtype: int, out: np.ndarray | None = None) -> np.ndarray:
    """``src`` (2-D, rows contiguous) converted between float32 and float16 by OpenCV, into ``out`` if given.

    The same values bit for bit as NumPy's ``astype`` (round to nearest even; NaN, infinities,
    subnormals and -0 kept; tested), 4-8x less CPU: NumPy converts half floats one by one.
    """
    if not _opencv_casts_half():  # OpenCV before 4.12 (the last for numpy 1.x, e.g. CaImAn's environment)
        with np.errstate(over="ignore", invalid="ignore"):  # as OpenCV: beyond float16's range is infinite
            result = src.astype(np.float16 if cv_dtype == cv2.CV_16F else np.float32)
        if out is None:
            return result
        out[...] = result
        return out
    if out is None:
        return cv2.multiply(src, 1.0, dtype=cv_dtype)
    result = cv2.multiply(src, 1.0, dst=out, dtype=cv_dtype)
    if not np.shares_memory(result, out):  # OpenCV could not write in place
        out[...] = result
    return out


def _narrowed(band: np.ndarray, dtype: np.dtype, path) -> np.ndarray:
    """``band`` (float32, 2-D) as ``dtype`` (float16); an error if a finite value falls outside its range."""
    narrow = _cast_2d(band, cv2.CV_16F) if dtype == np.float16 else band.astype(dtype)
    if dtype == np.float16:  # infinities found by their bits (NumPy's isinf converts half floats one by one)
        infinite = (narrow.view(np.uint16) & 0x7FFF) == 0x7C00
    else:
        infinite = np.isinf(narrow)
    if infinite.any() and np.isfinite(band[infinite]).any():
        raise ValueError(
            f"{path}: the corrected movie has values beyond {dtype.name}'s range (|x| > {float(np.finfo(dtype).max):g}); "
            "set motion.blocks_dtype: float32"
        )
    return narrow


def quantise_uint8(frames: np.ndarray) -> np.ndarray:
    """Float samples as uint8: rounded to the nearest integer (halves to even) and clipped to 0-255.

    What a uint8 frame-block file stores of an 8-bit movie's corrected frames: the sensor's own grey levels
    again after the interpolation of the motion correction. The stored value differs from the float one by
    at most half a grey level inside 0-255 (a uniform rounding error of RMS ``1 / sqrt(12)`` = 0.29 grey
    levels); values the interpolation pushed outside 0-255 (overshoot of the cubic kernel at a sharp edge) are
    clipped. NaN (``border_nan: true``; the motion step then overwrites that border) becomes 255.

    Parameters
    ----------
    frames : ndarray of float32, 2-D, rows contiguous
        Samples, grey levels.

    Returns
    -------
    ndarray of uint8, the shape of ``frames``

    Examples
    --------
    >>> quantise_uint8(np.array([[-3.0, 0.49, 0.5, 1.5, 254.6, 300.0]], np.float32)).tolist()
    [[0, 0, 0, 2, 255, 255]]
    """
    # OpenCV's saturating conversion: round half to even (as numpy.rint) and clip, in one pass (~5x numpy's)
    return cv2.multiply(np.ascontiguousarray(frames, dtype=np.float32), 1.0, dtype=cv2.CV_8U)


def write_blocks(path: str | os.PathLike, start: int, frames: np.ndarray, *, band_mb: float = 8.0) -> None:
    """Write frames ``(n, H, W)`` at frame ``start`` into a frame-block file.

    ``start`` must be a block boundary and ``n`` a whole number of blocks
    (or reach the end of the movie). Within a block the pixels of a band of
    whole columns are contiguous, so each block is written band by band
    (about ``band_mb`` of float32 each): one transposition and one write per
    band. A float16 file's block is cast once, before it is transposed (one
    block of float16 in memory), so the transpositions move half the bytes;
    a uint8 file's block is rounded and clipped once (:func:`quantise_uint8`).
    """
    h, w, t, bf, dtype = parse_blocks_name(path)
    n = frames.shape[0]
    if frames.shape[1:] != (h, w) or start % bf or (n % bf and start + n != t) or start + n > t:
        raise ValueError(f"{path}: frames {start}..{start + n} of shape {frames.shape[1:]} are not whole blocks of {bf}")
    item = dtype.itemsize
    fd = os.open(os.fspath(path), os.O_WRONLY)
    try:
        for b0 in range(0, n, bf):
            b1 = min(n, b0 + bf)
            lb = b1 - b0
            block = _as_sample_type(frames[b0:b1], dtype, path)  # cast once, transposed in the file's type
            cols = max(1, min(w, int(band_mb * 2**20 // (4 * h * lb))))
            base = (start + b0) * h * w * item
            for c0 in range(0, w, cols):
                c1 = min(w, c0 + cols)
                band = _band_pixels(block, c0, c1)  # (band px, lb)
                _write_all(fd, memoryview(band.reshape(-1)).cast("B"), base + c0 * h * lb * item, path)
    finally:
        os.close(fd)


def _as_sample_type(frames: np.ndarray, dtype: np.dtype, path) -> np.ndarray:
    """Frames (n, h, w) as the block file's sample type, C-contiguous (float16: :func:`_narrowed`, uint8:
    :func:`quantise_uint8`)."""
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    if dtype == np.float32:
        return frames
    n, h, w = frames.shape
    if dtype == np.uint8:
        return quantise_uint8(frames.reshape(n * h, w)).reshape(n, h, w)
    return _narrowed(frames.reshape(n * h, w), dtype, path).reshape(n, h, w)


def _band_pixels(block: np.ndarray, c0: int, c1: int) -> np.ndarray:
    """Columns ``c0:c1`` of C-contiguous frames (L, h, w) as pixels-by-frames ``(h * (c1 - c0), L)``, pixel
    ``row + col*h``: :func:`frames_to_pixels` of the band, two OpenCV transposes (2- and 4-byte samples moved as
    integers: the same bits; uint8 as it is)."""
    n, h, _ = block.shape
    bits = block.view(np.uint16) if block.dtype == np.float16 else block  # OpenCV has no float16 arrays
    by_columns = np.empty((n, c1 - c0, h), dtype=bits.dtype)
    for i in range(n):
        cv2.transpose(bits[i, :, c0:c1], dst=by_columns[i])
    return cv2.transpose(by_columns.reshape(n, (c1 - c0) * h)).view(block.dtype)


def read_blocks(
    path: str | os.PathLike, t0: int, t1: int, columns: tuple[int, int] | None = None, rows: tuple[int, int] | None = None,
    *, scratch: np.ndarray | None = None, out: np.ndarray | None = None,
) -> np.ndarray:
    """Frames ``[t0, t1)`` of columns ``c0:c1`` and rows ``r0:r1`` as float32 ``(h*w, t1-t0)``, pixel ``row + col*h``.

    Whole columns of a block are contiguous, so a band of columns is one read
    per block (the whole frame too); a range of rows adds one read per column.
    ``scratch``: a 1-d array of the file's sample type and at least
    ``h * w * block_frames`` samples that each block is read into before its
    conversion (reused by a caller that reads many chunks: no new memory to
    fault in per block); a new one is made when it is None or too small.
    ``out``: a C-contiguous float32 ``(h*w, t1-t0)`` array to return the frames in. Float16 and uint8
    samples are converted to float32 exactly (every value of either is a float32).
    """
    height, width, n_frames, bf, dtype = parse_blocks_name(path)
    c0, c1 = columns or (0, width)
    r0, r1 = rows or (0, height)
    if not (0 <= t0 < t1 <= n_frames and 0 <= c0 < c1 <= width and 0 <= r0 < r1 <= height):
        raise ValueError(f"frames [{t0}, {t1}) or region outside the movie's {n_frames} frames of {height}x{width}")
    n_pix, item = height * width, dtype.itemsize
    h = r1 - r0
    shape = (h * (c1 - c0), t1 - t0)
    if out is None:
        out = np.empty(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"read_blocks: out must be C-contiguous float32 {shape}, got {out.dtype} {out.shape}")
    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        for b0 in range(t0 - t0 % bf, t1, bf):
            lb = min(b0 + bf, n_frames) - b0
            a, z = max(t0, b0), min(t1, b0 + lb)
            # the chunk is this whole float32 block: read into the result, no block-sized temporary
            whole = (a, z) == (b0, b0 + lb) == (t0, t1) and dtype == np.float32
            size = h * (c1 - c0) * lb
            if whole:
                piece = out
            elif scratch is not None and scratch.dtype == dtype and scratch.size >= size:
                piece = scratch[:size].reshape(h * (c1 - c0), lb)
            else:
                piece = np.empty((h * (c1 - c0), lb), dtype)
            view = memoryview(piece.reshape(-1)).cast("B")
            base = b0 * n_pix * item
            if h == height:  # whole columns: one contiguous run
                _read_all(fd, view, base + c0 * height * lb * item, path)
            else:
                run = h * lb * item
                for j, c in enumerate(range(c0, c1)):
                    _read_all(fd, view[j * run : (j + 1) * run], base + (c * height + r0) * lb * item, path)
            if not whole and dtype == np.float16:
                _cast_2d(piece[:, a - b0 : z - b0], cv2.CV_32F, out[:, a - t0 : z - t0])
            elif not whole:  # float32, or uint8 (numpy's conversion: exact, vectorised)
                out[:, a - t0 : z - t0] = piece[:, a - b0 : z - b0]
    finally:
        os.close(fd)
    return out


class BlocksMovie:
    """A frame-block file as a read-only ``(T, H, W)`` float32 movie: ``movie[frames]`` reads those frames.

    Consumers that read frames (the NWB export, the movies) take it where
    they take a memory-mapped ``(T, H, W)`` array; each indexing reads only the
    blocks that hold the frames asked for, so memory is set by the request.

    Parameters
    ----------
    path : path-like
        A ``.blocks`` file (:func:`blocks_name`).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, blocks_name("m", 2, 3, 5, 2))
    >>> create_blocks(path)
    >>> write_blocks(path, 0, np.arange(30, dtype=np.float32).reshape(5, 2, 3))
    >>> movie = BlocksMovie(path)
    >>> movie.shape, movie[3:5].shape, float(movie[4][1, 2])
    ((5, 2, 3), (2, 2, 3), 29.0)
    """

    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: frame-block movie not found; re-run the motion step")
        height, width, n_frames, self.block_frames, _ = parse_blocks_name(self.path)
        self.shape = (n_frames, height, width)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        frames_key, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        single = isinstance(frames_key, (int, np.integer))
        wanted = np.arange(self.shape[0])[frames_key]
        frames = self._read(np.atleast_1d(wanted))
        frames = frames[0] if single else frames
        return frames[(slice(None),) * (0 if single else 1) + tuple(rest)] if rest else frames

    def _read(self, wanted: np.ndarray) -> np.ndarray:
        """Frames ``wanted`` (any order), reading each block that holds some of them once."""
        out = np.empty((wanted.size,) + self.shape[1:], np.float32)
        if not wanted.size:
            return out
        block_of = wanted // self.block_frames
        for block in np.unique(block_of):
            where = np.flatnonzero(block_of == block)
            t0, t1 = int(wanted[where].min()), int(wanted[where].max()) + 1
            piece = pixels_to_frames(read_blocks(self.path, t0, t1), self.shape[1:])
            out[where] = piece[wanted[where] - t0]
        return out


def blocks_to_caiman(
    blocks_path: str | os.PathLike, mmap_path: str | os.PathLike, p0: int, p1: int
) -> int:
    """Copy pixels ``[p0, p1)`` of a frame-block file into a C-order CaImAn memory map (both exist).

    One read per block (the pixels' run of that block) and one contiguous write
    of their whole time series. Returns the number of pixels copied.
    """
    height, width, n_frames, bf, dtype = parse_blocks_name(blocks_path)
    n_pix, item = height * width, dtype.itemsize
    series = np.empty((p1 - p0, n_frames), np.float32)
    fd = os.open(os.fspath(blocks_path), os.O_RDONLY)
    try:
        for b0 in range(0, n_frames, bf):
            lb = min(bf, n_frames - b0)
            piece = np.empty((p1 - p0, lb), dtype)
            _read_all(fd, memoryview(piece.reshape(-1)).cast("B"), (b0 * n_pix + p0 * lb) * item, blocks_path)
            if dtype == np.float16:
                _cast_2d(piece, cv2.CV_32F, series[:, b0 : b0 + lb])
            else:
                series[:, b0 : b0 + lb] = piece
    finally:
        os.close(fd)
    fd = os.open(os.fspath(mmap_path), os.O_WRONLY)
    try:
        _write_all(fd, memoryview(series.reshape(-1)).cast("B"), p0 * n_frames * 4, mmap_path)
    finally:
        os.close(fd)
    return p1 - p0


def _copy_band(task: tuple[str, str, int, int]) -> int:
    """:func:`blocks_to_caiman` of one ``(blocks_path, mmap_path, p0, p1)`` task (picklable, for worker pools)."""
    return blocks_to_caiman(*task)


def write_caiman_from_blocks(blocks_path: str | os.PathLike, mmap_path: str | os.PathLike, *,
                             budget_mb: float = 256.0, imap: Callable = map,
                             progress: Callable[[int], Any] | None = None) -> Path:
    """Write CaImAn's memory map ``mmap_path`` of a frame-block file, a band of pixels at a time.

    The map is allocated first (a full disk stops here, before any copying).
    Each band holds about ``budget_mb`` of pixel time series (float32): the
    memory of one band's task. ``imap(fn, tasks)`` runs the bands' copies, in
    this process by default, or in a pool's workers (each task opens the
    files itself); ``progress(n_pixels)`` is called as bands finish. Returns
    ``mmap_path``.
    """
    from ace_neuro.io.disk import preallocate

    height, width, n_frames, _, _ = parse_blocks_name(blocks_path)
    n_pixels = height * width
    Path(mmap_path).touch()
    preallocate(mmap_path, n_pixels * n_frames * 4, what="CaImAn memory map")
    per_band = max(1, int(budget_mb * 2**20 // (4 * n_frames)))
    tasks = [(os.fspath(blocks_path), os.fspath(mmap_path), p0, min(n_pixels, p0 + per_band))
             for p0 in range(0, n_pixels, per_band)]
    for done in imap(_copy_band, tasks):
        if progress is not None:
            progress(done)
    return Path(mmap_path)


def fill_border_blocks(path: str | os.PathLike, border: int, value: float) -> None:
    """Set a ``border``-pixel edge of every frame of a frame-block file to ``value``.

    Writes only the edge: per block, the first and last ``border`` columns (one
    contiguous run each) and the top and bottom ``border`` rows of every other
    column; nothing is read. A uint8 file stores ``value`` rounded and clipped to 0-255.
    """
    height, width, n_frames, bf, dtype = parse_blocks_name(path)
    border = min(int(border), (height + 1) // 2, (width + 1) // 2)
    if border <= 0:
        return
    n_pix, item = height * width, dtype.itemsize
    if dtype == np.uint8:
        value = int(quantise_uint8(np.array([[value]], np.float32))[0, 0])
    fd = os.open(os.fspath(path), os.O_WRONLY)
    try:
        for b0 in range(0, n_frames, bf):
            lb = min(bf, n_frames - b0)
            base = b0 * n_pix * item
            side = np.full(border * height * lb, value, dtype)
            for c in (0, width - border):  # left and right bands of whole columns
                _write_all(fd, memoryview(side).cast("B"), base + c * height * lb * item, path)
            run = np.full(border * lb, value, dtype)
            for c in range(border, width - border):
                for r in (0, height - border):
                    _write_all(fd, memoryview(run).cast("B"), base + (c * height + r) * lb * item, path)
    finally:
        os.close(fd)
