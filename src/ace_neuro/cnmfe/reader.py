"""Chunked access to a rectangle of a CaImAn memory map (or of an in-memory movie).

The CaImAn memory map stores ``Yr`` of shape ``(H*W, T)`` in C order with the
pixel index ``row + col * H``; viewed as ``(W, H, T)`` a rectangle of pixels
and a range of frames is a plain slice, so a patch or a chunk of frames is read
without touching the rest of the file. Chunks come back as ``(h*w, n_frames)``
float32 arrays (pixels by frames, the memory map's own layout) with pixels in
Fortran order (``row + col * h``), CaImAn's order, so footprints of a region
index them directly and no transposition is needed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np

from ..io.movie import open_caiman_memmap

__all__ = ["ChunkCache", "MovieSource", "pixels_to_frames", "frames_to_pixels", "write_frame_major", "write_frame_blocks"]


def _transpose2d(a: np.ndarray) -> np.ndarray:
    """C-contiguous transpose of a 2-D array (OpenCV's blocked transpose for float32, ~3x numpy's)."""
    if a.dtype == np.float32 and a.size and max(a.shape) < 2**31:
        return cv2.transpose(np.ascontiguousarray(a))
    return np.ascontiguousarray(a.T)


def frames_to_pixels(frames: np.ndarray) -> np.ndarray:
    """``(L, h, w)`` frames as ``(h*w, L)`` pixels by frames, pixel index ``row + col*h``."""
    frames = np.asarray(frames)
    n, h, w = frames.shape
    by_columns = np.ascontiguousarray(frames.transpose(0, 2, 1)).reshape(n, w * h)  # each frame Fortran-flat
    return _transpose2d(by_columns)


def pixels_to_frames(pixels: np.ndarray, dims: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`frames_to_pixels`: ``(h*w, L)`` to C-contiguous ``(L, h, w)``."""
    h, w = dims
    by_columns = _transpose2d(pixels.reshape(h * w, pixels.shape[1])).reshape(-1, w, h)
    return np.ascontiguousarray(by_columns.transpose(0, 2, 1))


@dataclass(frozen=True)
class MovieSource:
    """A rectangle ``[r0:r1, c0:c1]`` of a movie, read by chunks of frames.

    Build it with :meth:`from_memmap` (a CaImAn ``.mmap`` file; picklable, so
    worker processes reopen the file themselves) or :meth:`from_array` (a
    ``(T, H, W)`` array, for tests and small data).
    """

    path: str | None
    array: np.ndarray | None
    full_dims: tuple[int, int]
    n_frames: int
    region: tuple[int, int, int, int]
    #: "pixels": CaImAn's ``(H*W, T)`` C-order memory map; "frames": a raw float32 ``(T, W, H)``
    #: C-order file (each frame Fortran-flattened), see :func:`write_frame_major`; "blocks": a raw
    #: float32 file of consecutive blocks of ``block_frames`` frames, each ``(H*W, frames)`` C-order,
    #: see :func:`write_frame_blocks`.
    layout: str = "pixels"
    block_frames: int = 0

    @classmethod
    def from_memmap(cls, path: str | os.PathLike, region: tuple[int, int, int, int] | None = None) -> "MovieSource":
        """Source over a CaImAn C-order memory map; ``region`` = (r0, r1, c0, c1), default whole frame."""
        _, dims, n_frames = open_caiman_memmap(path)
        return cls(os.fspath(path), None, tuple(dims), int(n_frames), region or (0, dims[0], 0, dims[1]))

    @classmethod
    def from_array(cls, movie: np.ndarray, region: tuple[int, int, int, int] | None = None) -> "MovieSource":
        """Source over an in-memory ``(T, H, W)`` movie."""
        movie = np.asarray(movie)
        if movie.ndim != 3:
            raise ValueError(f"movie must have shape (T, H, W), got {movie.shape}")
        n_frames, h, w = movie.shape
        return cls(None, movie, (h, w), int(n_frames), region or (0, h, 0, w))

    def sub(self, region: tuple[int, int, int, int]) -> "MovieSource":
        """The same movie restricted to ``region`` (full-frame coordinates)."""
        r0, r1, c0, c1 = region
        if not (0 <= r0 < r1 <= self.full_dims[0] and 0 <= c0 < c1 <= self.full_dims[1]):
            raise ValueError(f"region {region} outside the frame {self.full_dims}")
        return MovieSource(self.path, self.array, self.full_dims, self.n_frames, tuple(int(v) for v in region),
                           self.layout, self.block_frames)

    @property
    def dims(self) -> tuple[int, int]:
        """``(h, w)`` of the region."""
        r0, r1, c0, c1 = self.region
        return (r1 - r0, c1 - c0)

    @property
    def n_pixels(self) -> int:
        """``h * w``."""
        return self.dims[0] * self.dims[1]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` of the region as ``(h*w, stop-start)`` float32, pixel ``row + col*h``."""
        if not 0 <= start < stop <= self.n_frames:
            raise ValueError(f"frames [{start}, {stop}) outside the movie's {self.n_frames} frames")
        r0, r1, c0, c1 = self.region
        if self.array is not None:
            return frames_to_pixels(np.asarray(self.array[start:stop, r0:r1, c0:c1], dtype=np.float32))
        if self.layout == "frames":
            return self._read_frames(start, stop)
        if self.layout == "blocks":
            return self._read_blocks(start, stop)
        height, _ = self.full_dims
        n_frames = self.n_frames
        length = stop - start
        out = np.empty((c1 - c0, r1 - r0, length), np.float32)  # (w, h, L)
        # One positioned read per pixel (its frames are contiguous in the file): the cost per chunk
        # does not depend on the recording length and no file page stays mapped in this process
        # (reading through a memory map makes the kernel map whole neighbourhoods of pages).
        buffer = memoryview(out.reshape(-1)).cast("B")
        row_bytes = 4 * length
        stride = 4 * n_frames
        fd = os.open(self.path, os.O_RDONLY)
        try:
            i = 0
            for c in range(c0, c1):
                offset = 4 * ((c * height + r0) * n_frames + start)
                for _ in range(r1 - r0):
                    got = os.preadv(fd, [buffer[i:i + row_bytes]], offset)
                    if got != row_bytes:
                        raise ValueError(f"{self.path}: short read at byte {offset}; the file is truncated")
                    i += row_bytes
                    offset += stride
        finally:
            os.close(fd)
        block = out
        return block.reshape(-1, stop - start)

    def _read_blocks(self, start: int, stop: int) -> np.ndarray:
        """Pixels-by-frames chunk from a block file; a whole block of whole frames is one read."""
        r0, r1, c0, c1 = self.region
        height, width = self.full_dims
        n_full = height * width
        B = self.block_frames
        out = np.empty((self.n_pixels, stop - start), np.float32)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for b0 in range(start - start % B, stop, B):
                b1 = min(b0 + B, self.n_frames)
                lb = b1 - b0
                a, z = max(start, b0), min(stop, b1)
                base = 4 * b0 * n_full
                whole = (a, z) == (b0, b1)
                target = out if (whole and start == b0 and stop == b1) else np.empty((self.n_pixels, lb), np.float32)
                view = memoryview(target.reshape(-1)).cast("B")
                if (r0, r1, c0, c1) == (0, height, 0, width):
                    _read_exact(fd, view, base, self.path)
                else:  # per column of the region, its rows are contiguous in the block
                    run = 4 * (r1 - r0) * lb
                    for j, c in enumerate(range(c0, c1)):
                        _read_exact(fd, view[j * run:(j + 1) * run], base + 4 * (c * height + r0) * lb, self.path)
                if target is not out:
                    out[:, a - start:z - start] = target[:, a - b0:z - b0]
        finally:
            os.close(fd)
        return out

    def _read_columns(self, start: int, stop: int) -> np.ndarray:
        """Whole columns ``c0:c1`` of frames ``[start, stop)`` of a frame-major file, ``(L, c1-c0, H)``.

        Positioned reads, no memory mapping.
        """
        _, c0, c1 = self.region[0], self.region[2], self.region[3]
        height, width = self.full_dims
        length = stop - start
        buf = np.empty((length, c1 - c0, height), np.float32)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if c1 - c0 == width:  # whole frames: one contiguous range
                _read_exact(fd, memoryview(buf.reshape(-1)).cast("B"), 4 * start * width * height, self.path)
            else:
                for i in range(length):
                    offset = 4 * (((start + i) * width + c0) * height)
                    _read_exact(fd, memoryview(buf[i].reshape(-1)).cast("B"), offset, self.path)
        finally:
            os.close(fd)
        return buf

    def _read_frames(self, start: int, stop: int) -> np.ndarray:
        """Pixels-by-frames chunk from a frame-major file."""
        r0, r1 = self.region[0], self.region[1]
        length = stop - start
        buf = self._read_columns(start, stop)
        if r0 == 0 and r1 == self.full_dims[0]:
            return _transpose2d(buf.reshape(length, -1))
        return np.ascontiguousarray(buf[:, :, r0:r1].reshape(length, -1).T)

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` of the region as C-contiguous ``(stop-start, h, w)`` float32.

        From a frame-major file (or an in-memory movie) this avoids the
        pixels-by-frames intermediate of :meth:`read`.
        """
        if not 0 <= start < stop <= self.n_frames:
            raise ValueError(f"frames [{start}, {stop}) outside the movie's {self.n_frames} frames")
        r0, r1, c0, c1 = self.region
        if self.array is not None:
            return np.ascontiguousarray(self.array[start:stop, r0:r1, c0:c1], dtype=np.float32)
        if self.layout != "frames":
            return pixels_to_frames(self.read(start, stop), self.dims)
        return np.ascontiguousarray(self._read_columns(start, stop)[:, :, r0:r1].transpose(0, 2, 1))

    def chunks(self, chunk_frames: int, step: int = 1) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of consecutive chunks; every chunk but the last has a multiple of ``step`` frames."""
        chunk = max(step, (int(chunk_frames) // step) * step)
        for start in range(0, self.n_frames, chunk):
            yield start, min(start + chunk, self.n_frames)

    def chunk_frames(self, budget_mb: float) -> int:
        """Frames per chunk so that one float32 chunk of the region (and its read buffer) fits ``budget_mb``."""
        if self.layout == "blocks":  # chunks follow the file's blocks (one read each)
            return self.block_frames
        per_frame = self.n_pixels
        if self.layout == "frames":  # whole columns of the region are read
            per_frame = (self.region[3] - self.region[2]) * self.full_dims[0]
        return max(16, int(budget_mb * 2**20 // (4 * per_frame)))


def _read_exact(fd: int, view: memoryview, offset: int, path) -> None:
    done = 0
    while done < len(view):  # large reads may return in parts
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            raise ValueError(f"{path}: short read at byte {offset + done}; the file is truncated")
        done += got


def write_frame_major(source: MovieSource, path: str | os.PathLike, budget_mb: float = 64.0, progress=None) -> MovieSource:
    """Copy a CaImAn (pixel-major) memory map to a frame-major scratch file, in one streaming pass.

    In CaImAn's layout a chunk of frames is scattered over the whole file (a
    few samples per pixel), so every pass over frame chunks would touch every
    page of the file. The algorithm makes a dozen such passes, so it pays to
    transpose once: blocks of whole pixel time series (contiguous) are read
    and written frame by frame with positioned writes. Memory: ``budget_mb``.

    Parameters
    ----------
    source : MovieSource
        A whole-frame memory-map source (``layout="pixels"``).
    path : path-like
        The scratch file to create (``4 * H * W * T`` bytes).
    budget_mb : float
        Memory for one block of pixel time series.
    progress : ace_neuro.progress.Progress, optional
        Updated with pixels done.

    Returns
    -------
    MovieSource
        Over the new file (``layout="frames"``), same region as ``source``.
    """
    if source.layout != "pixels" or source.path is None:
        raise ValueError("write_frame_major needs a CaImAn memory-map source")
    height, width = source.full_dims
    n_pix = height * width
    n_frames = source.n_frames
    block = max(1, int(budget_mb * 2**20 // (4 * n_frames)))
    buf = np.empty((min(block, n_pix), n_frames), np.float32)
    fd_in = os.open(source.path, os.O_RDONLY)
    fd_out = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd_out, 4 * n_pix * n_frames)
        for p0 in range(0, n_pix, block):
            p1 = min(n_pix, p0 + block)
            _read_exact(fd_in, memoryview(buf[:p1 - p0].reshape(-1)).cast("B"), 4 * p0 * n_frames, source.path)
            frames = np.ascontiguousarray(buf[:p1 - p0].T)  # (T, pixels of the block)
            row = 4 * (p1 - p0)
            for t in range(n_frames):
                if os.pwrite(fd_out, frames[t], 4 * (t * n_pix + p0)) != row:
                    raise OSError(f"{path}: short write (disk full?)")
            if progress is not None:
                progress.update(p1 - p0)
    finally:
        os.close(fd_in)
        os.close(fd_out)
    return MovieSource(os.fspath(path), None, source.full_dims, n_frames, source.region, "frames")


def write_frame_blocks(
    source: MovieSource, path: str | os.PathLike, block_frames: int, budget_mb: float = 64.0, progress=None
) -> MovieSource:
    """Copy a CaImAn (pixel-major) memory map to a file of frame blocks, in one streaming pass.

    The file holds consecutive blocks of ``block_frames`` frames (the last one
    shorter), each the ``(H*W, frames)`` pixels-by-frames array the algorithm
    works on, C order, pixel index ``row + col*H``. A chunk of frames that is a
    block is then one contiguous read with no transposition, whereas in
    CaImAn's layout it is scattered over the whole file. Blocks of whole pixel
    time series (``budget_mb``) are read and their pieces written block by block.

    Parameters
    ----------
    source : MovieSource
        A whole-frame memory-map source (``layout="pixels"``).
    path : path-like
        The scratch file to create (``4 * H * W * T`` bytes).
    block_frames : int
        Frames per block (>= 1): the chunk length of every later pass.
    budget_mb : float
        Memory for one block of pixel time series.
    progress : ace_neuro.progress.Progress, optional
        Updated with pixels done.

    Returns
    -------
    MovieSource
        Over the new file (``layout="blocks"``), same region as ``source``.
    """
    if source.layout != "pixels" or source.path is None:
        raise ValueError("write_frame_blocks needs a CaImAn memory-map source")
    if int(block_frames) < 1:
        raise ValueError(f"block_frames must be at least 1, got {block_frames}")
    B = int(block_frames)
    height, width = source.full_dims
    n_pix = height * width
    n_frames = source.n_frames
    block = max(1, int(budget_mb * 2**20 // (4 * n_frames)))
    buf = np.empty((min(block, n_pix), n_frames), np.float32)
    fd_in = os.open(source.path, os.O_RDONLY)
    fd_out = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd_out, 4 * n_pix * n_frames)
        for p0 in range(0, n_pix, block):
            p1 = min(n_pix, p0 + block)
            _read_exact(fd_in, memoryview(buf[:p1 - p0].reshape(-1)).cast("B"), 4 * p0 * n_frames, source.path)
            for b0 in range(0, n_frames, B):
                b1 = min(n_frames, b0 + B)
                piece = np.ascontiguousarray(buf[:p1 - p0, b0:b1])
                data = memoryview(piece.reshape(-1)).cast("B")
                offset = 4 * (b0 * n_pix + p0 * (b1 - b0))
                done = 0
                while done < len(data):
                    got = os.pwrite(fd_out, data[done:], offset + done)
                    if got <= 0:
                        raise OSError(f"{path}: short write (disk full?)")
                    done += got
            if progress is not None:
                progress.update(p1 - p0)
    finally:
        os.close(fd_in)
        os.close(fd_out)
    return MovieSource(os.fspath(path), None, source.full_dims, n_frames, source.region, "blocks", B)


def _free_bytes(folder: str | None) -> int:
    return shutil.disk_usage(folder or tempfile.gettempdir()).free


class ChunkCache:
    """Replay a stream of float32 chunks from a scratch file after its first full run.

    ``ChunkCache(factory, folder)`` is itself a factory: the first call
    iterates ``factory()`` and writes every chunk to a scratch file in
    ``folder`` (the system's temporary folder if None); once that run is
    complete, later calls read the chunks back. Seeding reads its movie (the
    downsampled data or the model's residual, and the filtered movie) several
    times; replaying costs one read instead of reading, downsampling,
    filtering or recomputing the residual. Call :meth:`close` to remove the file.

    With ``expected_bytes`` (the size of the stream) the cache is skipped
    when the folder has less than that plus 1 GiB free, and a failed write
    (disk full) drops it; the chunks are then recomputed on every call.
    """

    def __init__(
        self, factory: Callable[[], Iterator[np.ndarray]], folder: str | None, expected_bytes: int | None = None
    ) -> None:
        self.factory = factory
        self.folder = folder
        self.path: str | None = None
        self.shapes: list[tuple[int, ...]] = []
        # no room for the cache (or a write failed): every call recomputes the chunks
        self.enabled = expected_bytes is None or _free_bytes(folder) > int(expected_bytes) + 2**30

    def __call__(self) -> Iterator[np.ndarray]:
        if self.path is not None:
            return self._replay()
        return self._record() if self.enabled else self.factory()

    def _record(self) -> Iterator[np.ndarray]:
        fd, path = tempfile.mkstemp(prefix=".cnmfe_seeding_", suffix=".f32", dir=self.folder)
        f = os.fdopen(fd, "wb")
        shapes = []
        complete = False
        try:
            for chunk in self.factory():
                chunk = np.ascontiguousarray(chunk, dtype=np.float32)
                if f is not None:
                    try:
                        f.write(memoryview(chunk.reshape(-1)).cast("B"))
                    except OSError:  # e.g. disk full: carry on without the cache
                        f.close()
                        f = None
                        self.enabled = False
                shapes.append(chunk.shape)
                yield chunk
            complete = f is not None
        finally:
            if f is not None:
                f.close()
            if complete:
                self.path, self.shapes = path, shapes
            else:  # abandoned, failed or not writable: nothing to replay
                os.unlink(path)

    def _replay(self) -> Iterator[np.ndarray]:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            offset = 0
            for shape in self.shapes:
                chunk = np.empty(shape, np.float32)
                view = memoryview(chunk.reshape(-1)).cast("B")
                done = 0
                while done < len(view):
                    got = os.preadv(fd, [view[done:]], offset + done)
                    if got <= 0:
                        raise OSError(f"{self.path}: short read of the seeding scratch file")
                    done += got
                offset += len(view)
                yield chunk
        finally:
            os.close(fd)

    def close(self) -> None:
        if self.path is not None:
            os.unlink(self.path)
            self.path = None
