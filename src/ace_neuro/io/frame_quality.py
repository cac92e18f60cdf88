"""Frames corrupted in transmission (a wireless Miniscope's lost packets): found while convert streams the movie.

A transmission error leaves two kinds of marks that no optical signal makes:

* **pixel-scale garbage** (check patterns, "black and white high contrast noise", a row or a block of rows):
  the optics blur every real image over several pixels, so a frame's second differences (``x[j-1] - 2 x[j] +
  x[j+1]``, along rows and columns) hold noise only; garbage multiplies them;
* **exactly constant blocks** (black-outs, a filled block): sensor noise never leaves an 8 x 8 tile exactly flat.

Each frame is cut into square tiles; per tile, the sum of absolute second differences (both axes) is compared with
the same tile's median over the preceding good frames (a running reference, recomputed every 5 good frames, so
vignetting, dark clipped corners, bleaching and slow changes are the reference's, not the frame's). A tile is **bad** when its value exceeds the
reference by more than ``corrupted_tile_excess`` times the reference's median tile (garbage), or when it is exactly
flat where the reference is not (a black-out). A frame is **corrupted** when its count of bad tiles exceeds both
``corrupted_min_tiles`` and the running level of that count over the preceding good frames (median + 6 MAD), so a
recording whose bright transients or motion light up a few tiles now and then sets its own level. Tiles that
reached the sensor's ceiling (an integer dtype's maximum) in any reference frame are not judged: clipping makes
their roughness jump with noise and bleaching (a saturated centre shrinking as the recording bleaches).

Everything is per frame and in order (deterministic); state is kept between chunks by :class:`FrameQuality`.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from ace_neuro.io.params import ConvertOptions

__all__ = [
    "tile_roughness", "chunk_roughness", "tile_saturated", "chunk_saturated", "FrameQuality", "held_sources",
    "median_of_frames",
]

_DEFAULTS = ConvertOptions()

#: Tile side in pixels.
TILE_PX = 8
#: Good frames in the running reference (tiles' median, the bad-tile count's median and MAD).
WINDOW_FRAMES = 25
#: The reference (tiles' median) is recomputed after this many new good frames (a fifth of the cost).
REFERENCE_EVERY = 5
#: The first frames, judged together (against their own median) once all are in.
SEED_FRAMES = 5
#: The bad-tile count must exceed its running median by this many (scaled) MADs.
_MAD_FACTOR = 6.0


def tile_roughness(frame: np.ndarray, tile: int = TILE_PX) -> np.ndarray:
    """Sum of absolute second differences along rows and columns, inside each tile.

    Parameters
    ----------
    frame : ndarray, shape (H, W), any real dtype
    tile : int
        Tile side in pixels; the last ``H % tile`` rows and ``W % tile`` columns are left out.

    Returns
    -------
    ndarray of float32, shape (H // tile, W // tile)
        0 where the tile is exactly constant.
    """
    h, w = frame.shape
    ny, nx = h // tile, w // tile
    if frame.dtype == np.uint8 and tile >= 3 and ny and nx:
        return _tile_roughness_uint8(frame[: ny * tile, : nx * tile], tile)
    # any other dtype in float64 (exact for integers), one tile axis at a time
    x = frame[: ny * tile, : nx * tile].astype(np.float64).reshape(ny, tile, nx, tile)
    total = np.zeros((ny, nx), dtype=np.float64)
    for axis in (3, 1):  # along rows, then along columns
        second = np.diff(x, 2, axis=axis)
        np.abs(second, out=second)
        total += second.sum(axis=(1, 3), dtype=np.float64)
    return total.astype(np.float32)


#: The second difference ``x[j-1] - 2 x[j] + x[j+1]`` as a filter along rows (its transpose: along columns).
_SECOND_DIFFERENCE = np.array([[1.0, -2.0, 1.0]], dtype=np.float32)


def _tile_roughness_uint8(frame: np.ndarray, tile: int) -> np.ndarray:
    """:func:`tile_roughness` of an 8-bit frame (H, W) cut to whole tiles, in integers: the same values exactly.

    The second differences of the whole frame (OpenCV, int16: at most 4 x 255 in size) are taken at every pixel;
    those centred on a tile's first or last row / column reach into the next tile and are zeroed, so each tile sums
    only its own ``tile - 2`` differences per line, as ``np.diff`` inside the tile would. Tile sums in int32 (at
    most ``2 tile (tile - 2) 1020``), hence exact in float32.
    """
    ny, nx = frame.shape[0] // tile, frame.shape[1] // tile
    along_rows = cv2.filter2D(frame, cv2.CV_16S, _SECOND_DIFFERENCE)
    np.abs(along_rows, out=along_rows)
    along_rows[:, 0::tile] = 0
    along_rows[:, tile - 1 :: tile] = 0
    along_cols = cv2.filter2D(frame, cv2.CV_16S, _SECOND_DIFFERENCE.T)
    np.abs(along_cols, out=along_cols)
    along_cols[0::tile] = 0
    along_cols[tile - 1 :: tile] = 0
    along_rows += along_cols
    band_sums = along_rows.reshape(ny, tile, nx * tile).sum(axis=1, dtype=np.int32)  # (ny, W)
    total = band_sums[:, 0::tile].copy()
    for j in range(1, tile):
        total += band_sums[:, j::tile]
    return total.astype(np.float32)


def chunk_roughness(frames: np.ndarray, tile: int = TILE_PX) -> np.ndarray:
    """:func:`tile_roughness` of every frame of a chunk (T, H, W): float32 (T, H // tile, W // tile).

    Stateless: the decoding threads of convert compute it for their chunks, :meth:`FrameQuality.judge` takes it in
    order.
    """
    t, h, w = frames.shape
    out = np.empty((t, h // tile, w // tile), dtype=np.float32)
    for i in range(t):
        out[i] = tile_roughness(frames[i], tile)
    return out


def tile_saturated(frame: np.ndarray, tile: int = TILE_PX) -> np.ndarray:
    """Tiles holding a pixel at the sensor's ceiling (the maximum of an integer dtype; never for floats).

    Parameters
    ----------
    frame : ndarray, shape (H, W)
    tile : int
        Tile side in pixels, as :func:`tile_roughness`.

    Returns
    -------
    ndarray of bool, shape (H // tile, W // tile)
    """
    return chunk_saturated(frame[None], tile)[0]


def chunk_saturated(frames: np.ndarray, tile: int = TILE_PX) -> np.ndarray:
    """:func:`tile_saturated` of every frame of a chunk (T, H, W): bool (T, H // tile, W // tile).

    Stateless, like :func:`chunk_roughness` (convert's decoding threads compute both).
    """
    t, h, w = frames.shape
    ny, nx = h // tile, w // tile
    saturated = np.zeros((t, ny, nx), dtype=bool)
    if frames.dtype.kind not in "ui" or not (ny and nx):
        return saturated
    ceiling = np.iinfo(frames.dtype).max
    whole = frames[:, : ny * tile, : nx * tile]
    if whole.max() < ceiling:  # the usual case: one fast pass, nothing at the ceiling
        return saturated
    for i in range(t):
        saturated[i] = whole[i].reshape(ny, tile, nx, tile).max(axis=(1, 3)) == ceiling
    return saturated


class FrameQuality:
    """Streaming detector of corrupted frames: feed every frame in order with :meth:`check`, then read :attr:`flags`.

    The first :data:`SEED_FRAMES` frames are judged together once they are all in (against their own median and
    their own counts), so a flag of one of them may be set after :meth:`check` returned: read :attr:`flags` at
    the end.

    Parameters
    ----------
    corrupted_tile_excess : float
        A tile is garbage when it exceeds its reference by this many times the reference's median tile.
    corrupted_min_tiles : int
        A frame needs more than this many bad tiles to be corrupted.
    """

    def __init__(
        self,
        corrupted_tile_excess: float = _DEFAULTS.corrupted_tile_excess,
        corrupted_min_tiles: int = _DEFAULTS.corrupted_min_tiles,
    ) -> None:
        self.excess = float(corrupted_tile_excess)
        self.min_tiles = int(corrupted_min_tiles)
        self._tiles: deque = deque(maxlen=WINDOW_FRAMES)
        self._counts: deque = deque(maxlen=WINDOW_FRAMES)
        self._seeds: list[np.ndarray] = []
        self._saturated: deque = deque(maxlen=WINDOW_FRAMES)  # the reference frames' saturated tiles
        self._seed_saturated: list[np.ndarray] = []
        self._reference: np.ndarray | None = None
        self._reference_saturated: np.ndarray | None = None
        self._typical = 0.0  # the reference's median judged tile
        self._added = 0
        self.flags: list[bool] = []
        self.saturated_tiles = 0  # tiles of all frames with a pixel at the sensor's ceiling
        self.tiles_seen = 0

    def bad_tiles(
        self, roughness: np.ndarray, reference: np.ndarray, typical: float | None = None,
        saturated: np.ndarray | None = None,
    ) -> int:
        """Tiles of one frame that are garbage or newly flat, against a reference of the same shape; tiles
        ``saturated`` in the reference (bool, same shape) are left out. ``typical``: the reference's median over
        the judged tiles (computed when not given)."""
        judged = None if saturated is None or not saturated.any() else ~saturated
        if reference.size == 0 or (judged is not None and not judged.any()):
            return 0  # a frame smaller than one tile, or saturated everywhere: nothing to judge
        if typical is None:
            typical = _typical_tile(reference, judged)
        if typical <= 0:
            return 0  # a reference frame flat everywhere: nothing to compare with
        bad = roughness - reference > self.excess * typical  # garbage
        bad |= (roughness == 0) & (reference > 0.5 * typical)  # blacked out
        if judged is not None:
            bad &= judged
        return int(np.count_nonzero(bad))

    def check(self, frames: np.ndarray) -> None:
        """Judge the next frames of the movie, shape (T, H, W); their flags are appended to :attr:`flags`."""
        self.judge(chunk_roughness(frames), chunk_saturated(frames))

    def judge(self, roughness_chunk: np.ndarray, saturated_chunk: np.ndarray | None = None) -> None:
        """Judge the next frames of the movie from their :func:`chunk_roughness`, shape (T, ny, nx) float32, and
        :func:`chunk_saturated` (bool, same shape; None: nothing saturated); their flags are appended to
        :attr:`flags` (the same as :meth:`check` of the frames)."""
        if saturated_chunk is None:
            saturated_chunk = np.zeros(roughness_chunk.shape, dtype=bool)
        self.saturated_tiles += int(np.count_nonzero(saturated_chunk))
        self.tiles_seen += saturated_chunk.size
        for roughness, saturated in zip(roughness_chunk, saturated_chunk):
            if len(self._seeds) < SEED_FRAMES:
                self._seeds.append(roughness.copy())
                self._seed_saturated.append(saturated.copy())
                self.flags.append(False)
                if len(self._seeds) == SEED_FRAMES:
                    self._judge_seeds()
                continue
            if self._reference is None or self._added >= REFERENCE_EVERY:
                self._reference = median_of_frames(np.stack(self._tiles))
                self._reference_saturated = np.any(np.stack(self._saturated), axis=0)
                judged = ~self._reference_saturated if self._reference_saturated.any() else None
                self._typical = _typical_tile(self._reference, judged)
                self._added = 0
            count = self.bad_tiles(roughness, self._reference, self._typical, self._reference_saturated)
            corrupted = count > self._threshold()
            if not corrupted:
                self._tiles.append(roughness.copy())  # not a view keeping its chunk alive
                self._saturated.append(saturated.copy())
                self._counts.append(count)
                self._added += 1
            self.flags.append(bool(corrupted))

    def finish(self) -> np.ndarray:
        """All flags, shape (n_frames,) bool (a movie shorter than the seed judged as a seed)."""
        if 0 < len(self._seeds) < SEED_FRAMES:
            self._judge_seeds()
        return np.asarray(self.flags, dtype=bool)

    def _judge_seeds(self) -> None:
        seeds = np.stack(self._seeds)
        reference = median_of_frames(seeds)
        saturated = np.any(np.stack(self._seed_saturated), axis=0)
        counts = [self.bad_tiles(r, reference, saturated=saturated) for r in seeds]
        self._counts.extend(counts)  # judged by their own level: a recording's usual count is no corruption
        threshold = self._threshold()
        self._counts.clear()
        for i, (roughness, count) in enumerate(zip(seeds, counts)):
            self.flags[i] = count > threshold
            if not self.flags[i]:
                self._tiles.append(roughness.copy())  # not a view keeping its chunk alive
                self._saturated.append(self._seed_saturated[i])
                self._counts.append(count)
        if not self._tiles:  # every seed corrupted: the median of them is the best reference there is
            self._tiles.append(reference)
            self._saturated.append(saturated)
        self._seeds = [None] * SEED_FRAMES  # judged; keep the count, drop the arrays
        self._seed_saturated = []

    def _threshold(self) -> float:
        if len(self._counts) < 3:
            return float(self.min_tiles)
        counts = np.asarray(self._counts, dtype=np.float64)
        median = float(np.median(counts))
        mad = 1.4826 * float(np.median(np.abs(counts - median)))
        return max(float(self.min_tiles), median + _MAD_FACTOR * mad)


def median_of_frames(stack: np.ndarray) -> np.ndarray:
    """Per-tile median over frames: ``np.median(stack, axis=0)``, the same values, in a third of the CPU.

    ``np.median`` partitions each tile's values in a lane strided across the frames; here the frames are moved
    last and sorted (the running reference is recomputed every :data:`REFERENCE_EVERY` frames, ~0.3 of convert's
    judging CPU otherwise). The middle value, or the mean of the two middle values, is taken as ``np.median`` does.

    Parameters
    ----------
    stack : ndarray, shape (n, ny, nx), n >= 1

    Returns
    -------
    ndarray, shape (ny, nx), the dtype ``np.median`` gives

    Examples
    --------
    >>> median_of_frames(np.array([[[1.0, 5.0]], [[3.0, 2.0]]], np.float32))
    array([[2. , 3.5]], dtype=float32)
    """
    n = stack.shape[0]
    lanes = np.sort(np.ascontiguousarray(stack.reshape(n, -1).T), axis=1)  # (tiles, n)
    if n % 2:
        middle = lanes[:, n // 2]
    else:
        middle = np.mean(lanes[:, n // 2 - 1:n // 2 + 1], axis=1)
    return middle.reshape(stack.shape[1:])


def _typical_tile(reference: np.ndarray, judged: np.ndarray | None) -> float:
    """The reference's median tile, over the ``judged`` tiles only (bool, same shape; None: all)."""
    values = reference if judged is None else reference[judged]
    return float(np.median(values)) if values.size else 0.0


def held_sources(corrupted: np.ndarray) -> np.ndarray:
    """For each frame, the frame written in its place: itself when good, else the nearest good frame before it
    (after it for corrupted frames at the start).

    Parameters
    ----------
    corrupted : ndarray of bool, shape (T,)
        At least one False.

    Returns
    -------
    ndarray of int, shape (T,)
    """
    index = np.where(~corrupted, np.arange(corrupted.size), -1)
    before = np.maximum.accumulate(index)
    first_good = int(np.flatnonzero(~corrupted)[0])
    return np.where(before < 0, first_good, before)
