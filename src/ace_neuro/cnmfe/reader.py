"""Chunked access to a rectangle of the corrected movie (or of an in-memory movie).

Two files hold the motion-corrected movie (:mod:`ace_neuro.io.memmap`): the
frame-block file the motion step writes for CNMF-E (a chunk of frames is one
contiguous read) and CaImAn's C-order memory map (each pixel's time series
contiguous, read in place: slower by chunks of frames, but no copy). Chunks come
back as ``(h*w, n_frames)`` float32 arrays (pixels by frames) with pixels in
Fortran order (``row + col * h``), CaImAn's order, so footprints of a region
index them directly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..pools import map_in_order
from ..io.memmap import (
    frames_to_pixels,
    open_caiman_memmap,
    parse_blocks_name,
    pixels_to_frames,
    read_blocks,
    read_caiman_pixels,
    release_pages,
)

__all__ = ["ChunkCache", "MovieSource", "pixels_to_frames", "frames_to_pixels"]

@dataclass(frozen=True)
class MovieSource:
    """A rectangle ``[r0:r1, c0:c1]`` of a movie, read by chunks of frames.

    Build it with :meth:`from_path` (a frame-block file or a CaImAn ``.mmap``;
    picklable, so worker processes reopen the file themselves) or
    :meth:`from_array` (a ``(T, H, W)`` array, for tests and small data).
    """

    path: str | None
    array: np.ndarray | None
    full_dims: tuple[int, int]
    n_frames: int
    region: tuple[int, int, int, int]
    #: "pixels": CaImAn's ``(H*W, T)`` C-order memory map, read in place; "blocks": a frame-block
    #: file (:func:`ace_neuro.io.memmap.blocks_name`).
    layout: str = "pixels"
    block_frames: int = 0
    #: Sample type on disk (float32, or float16 or uint8 for a compact block file).
    dtype: str = "float32"
    #: Each pixel's slow trend (:class:`.trend.PixelTrend`, the region's pixels), subtracted from every chunk
    #: :meth:`read` returns; None: the frames as stored.
    trend: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def from_path(cls, path: str | os.PathLike, region: tuple[int, int, int, int] | None = None) -> "MovieSource":
        """Source over a frame-block file (``.blocks``) or a CaImAn C-order memory map (``.mmap``)."""
        if Path(path).suffix == ".blocks":
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path}: corrected movie not found; re-run the motion step")
            h, w, t, bf, dtype = parse_blocks_name(path)
            return cls(os.fspath(path), None, (h, w), t, region or (0, h, 0, w), "blocks", bf, dtype.name)
        return cls.from_memmap(path, region)

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
        trend = None
        if self.trend is not None:  # the trend's pixels are this region's: the new region's, in its coordinates
            q0, q1, p0, p1 = self.region
            if not (q0 <= r0 and r1 <= q1 and p0 <= c0 and c1 <= p1):
                raise ValueError(f"region {region} outside {self.region}, the region the trend is known on")
            trend = self.trend.restrict(self.dims, (r0 - q0, r1 - q0, c0 - p0, c1 - p0))
        return MovieSource(self.path, self.array, self.full_dims, self.n_frames, tuple(int(v) for v in region),
                           self.layout, self.block_frames, self.dtype, trend)

    def with_trend(self, trend) -> "MovieSource":
        """The same region read without ``trend`` (:class:`.trend.PixelTrend` of its pixels, every frame)."""
        if trend.b.shape[0] != self.n_pixels or trend.f.shape[1] != self.n_frames:
            raise ValueError(f"trend of {trend.b.shape[0]} pixels x {trend.f.shape[1]} frames for a region of "
                             f"{self.n_pixels} pixels x {self.n_frames} frames")
        return replace(self, trend=trend)

    def without_trend(self) -> "MovieSource":
        """The same region read as stored."""
        return self if self.trend is None else replace(self, trend=None)

    @property
    def dims(self) -> tuple[int, int]:
        """``(h, w)`` of the region."""
        r0, r1, c0, c1 = self.region
        return (r1 - r0, c1 - c0)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, H, W)`` of the whole movie."""
        return (self.n_frames, *self.full_dims)

    @property
    def n_pixels(self) -> int:
        """``h * w``."""
        return self.dims[0] * self.dims[1]

    def read(self, start: int, stop: int, scratch: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` of the region as ``(h*w, stop-start)`` float32, pixel ``row + col*h``.

        ``scratch`` (:meth:`block_scratch`): the buffer a frame-block file's blocks are read into;
        ``out``: a C-contiguous float32 array of that shape that a frame-block file's frames are returned in.
        With a :attr:`trend`, the frames less the trend.
        """
        chunk = self._read_stored(start, stop, scratch, out)
        if self.trend is None:
            return chunk
        if self.array is not None and np.may_share_memory(chunk, self.array):
            chunk = chunk.copy()
        return self.trend.subtract(chunk, start, stop)

    def _read_stored(self, start: int, stop: int, scratch: np.ndarray | None, out: np.ndarray | None) -> np.ndarray:
        """:meth:`read` without the trend."""
        if not 0 <= start < stop <= self.n_frames:
            raise ValueError(f"frames [{start}, {stop}) outside the movie's {self.n_frames} frames")
        r0, r1, c0, c1 = self.region
        if self.array is not None:
            chunk = frames_to_pixels(np.asarray(self.array[start:stop, r0:r1, c0:c1], dtype=np.float32))
            release_pages(self.array)  # a memory-mapped array: drop the pages just read from this process
            return chunk
        if self.layout == "blocks":
            return read_blocks(self.path, start, stop, (c0, c1), (r0, r1), scratch=scratch, out=out)
        height = self.full_dims[0]
        if (r0, r1) == (0, height):  # whole columns: one contiguous range of pixels
            return read_caiman_pixels(self.path, c0 * height, c1 * height, start, stop, n_frames=self.n_frames)
        out = np.empty((c1 - c0, r1 - r0, stop - start), np.float32)  # pixel row + col*h
        for j, c in enumerate(range(c0, c1)):
            read_caiman_pixels(self.path, c * height + r0, c * height + r1, start, stop, n_frames=self.n_frames,
                               out=out[j])
        return out.reshape(-1, stop - start)

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` of the region as C-contiguous ``(stop-start, h, w)`` float32."""
        if not 0 <= start < stop <= self.n_frames:
            raise ValueError(f"frames [{start}, {stop}) outside the movie's {self.n_frames} frames")
        r0, r1, c0, c1 = self.region
        if self.array is not None and self.trend is None:
            return np.ascontiguousarray(self.array[start:stop, r0:r1, c0:c1], dtype=np.float32)
        return pixels_to_frames(self.read(start, stop), self.dims)

    def chunks(self, chunk_frames: int, step: int = 1) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` of consecutive chunks; every chunk but the last has a multiple of ``step`` frames."""
        chunk = max(step, (int(chunk_frames) // step) * step)
        for start in range(0, self.n_frames, chunk):
            yield start, min(start + chunk, self.n_frames)

    def read_chunks(
        self,
        chunk_frames: int,
        step: int = 1,
        transform: Callable[[np.ndarray, int, int], Any] | None = None,
        workers: int = 1,
        reuse: bool = False,
        bounds: Sequence[tuple[int, int]] | None = None,
    ) -> Iterator[tuple[int, int, Any]]:
        """``(start, stop, data)`` of consecutive chunks (:meth:`chunks`), read and transformed ahead, in order.

        ``workers`` threads read the next chunks and apply
        ``transform(data, start, stop)`` to them (a time average, or a whole
        step's arithmetic on the chunk) while the caller works on this one:
        reading and per-chunk arithmetic overlap, and NumPy, SciPy and
        OpenCV release the interpreter while they compute, so the threads
        share the cores. ``transform`` must only read shared state. At most
        ``workers`` chunks are in flight beside the caller's. ``data`` is
        :meth:`read`'s ``(h*w, stop-start)`` float32, or what ``transform``
        returns. An error while reading is raised here, at its chunk.

        ``reuse=True`` (with a ``transform`` whose result never refers to
        ``data``, nor keeps it): each thread reads every chunk into the same
        buffer, so no new memory is faulted in per chunk.

        ``bounds``: read only these chunks, ``(start, stop)`` in order, each at
        most ``chunk_frames`` long (e.g. some of :meth:`chunks`); default all.
        """

        buffers = threading.local()  # each thread reads blocks into its own buffer, reused chunk after chunk

        def load(span: tuple[int, int]) -> tuple[int, int, Any]:
            start, stop = span
            if not hasattr(buffers, "scratch"):
                buffers.scratch = self.block_scratch()
                keep = reuse and transform is not None and buffers.scratch is not None
                buffers.out = np.empty(self.n_pixels * chunk, np.float32) if keep else None
            out = None if buffers.out is None else buffers.out[: self.n_pixels * (stop - start)].reshape(-1, stop - start)
            data = self.read(start, stop, buffers.scratch, out)
            return start, stop, (data if transform is None else transform(data, start, stop))

        workers = max(1, int(workers))
        chunk = max(step, (int(chunk_frames) // step) * step)  # the longest chunk (:meth:`chunks`)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read-ahead") as pool:
            wanted = self.chunks(chunk_frames, step) if bounds is None else list(bounds)
            if bounds is not None and any(not 0 <= a < b <= min(a + chunk, self.n_frames) for a, b in wanted):
                raise ValueError(f"read_chunks: chunks {wanted} must lie in the movie's {self.n_frames} frames and "
                                 f"hold at most {chunk} frames each")
            yield from map_in_order(pool, load, wanted, what="cnmfe (read-ahead)", ahead=workers)

    def block_scratch(self) -> np.ndarray | None:
        """A buffer for :meth:`read` to read one block of the region into (None: not a frame-block file)."""
        if self.layout != "blocks" or self.array is not None:
            return None
        return np.empty(self.n_pixels * self.block_frames, np.dtype(self.dtype))

    def chunk_frames(self, budget_mb: float) -> int:
        """Frames per chunk so that one float32 chunk of the region fits ``budget_mb``.

        For a block file the chunk is a whole number of blocks (one contiguous
        read each, no partial block read twice).
        """
        frames = max(16, int(budget_mb * 2**20 // (4 * self.n_pixels)))
        if self.layout == "blocks":
            return max(1, frames // self.block_frames) * self.block_frames
        return frames


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
    (disk full) drops it; the chunks are then recomputed on every call (as
    with ``enabled=False``).
    """

    def __init__(
        self,
        factory: Callable[[], Iterator[np.ndarray]],
        folder: str | None,
        expected_bytes: int | None = None,
        enabled: bool = True,
    ) -> None:
        self.factory = factory
        self.folder = folder
        self.path: str | None = None
        self.shapes: list[tuple[int, ...]] = []
        # no room for the cache (or a write failed): every call recomputes the chunks
        self.enabled = enabled and (expected_bytes is None or _free_bytes(folder) > int(expected_bytes) + 2**30)

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
