"""A short movie of one component around its strongest transients: raw, denoised (A·C) and residual side by side.

As MiniAn's viewer shows a unit, the curation page plays, for the selected
component, the motion-corrected movie in a box around its footprint (raw),
the model's neurons there (``A @ C``, every component overlapping the box:
denoised) and what the model leaves (``Y - B - A @ C``, with ``B`` the CNMF-E
background: residual), side by side. Only the frames of a few windows around
the component's largest peaks of ``C`` are read from the movie (the motion
step's file, :class:`ace_neuro.cnmfe.reader.MovieSource`) and only those
columns of ``C``; memory does not depend on the recording's length.

Clips are encoded by the ``ffmpeg`` that ships in the ``imageio-ffmpeg``
wheel: H.264 in MP4 (``libx264``) or VP9 in WebM (``libvpx-vp9``); browsers
play one or the other (the page asks for the one it can play).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.estimates import Estimates, pixels_to_frames
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.movies.render import H264_OPTIONS

__all__ = ["CLIP_FORMATS", "transient_windows", "clip_box", "clip_panels", "encode_clip", "ClipMaker"]

#: format -> (ffmpeg encoder, MIME type, ffmpeg output options)
CLIP_FORMATS = {
    "mp4": ("libx264", "video/mp4", H264_OPTIONS),  # as the workflow's movies
    "webm": ("libvpx-vp9", "video/webm", ["-b:v", "0", "-crf", "30", "-deadline", "realtime", "-cpu-used", "8"]),
}
#: Frames of black between two windows of a clip.
GAP_FRAMES = 3


def transient_windows(trace: np.ndarray, frame_rate: float, *, n_windows: int = 3, before_s: float = 1.0,
                      after_s: float = 2.0) -> list[tuple[int, int]]:
    """Frame windows ``[start, stop)`` around the largest peaks of a trace, in time order, not overlapping.

    Parameters
    ----------
    trace : ndarray, shape (T,)
        The denoised trace ``C[k]``.
    frame_rate : float
        Hz.
    n_windows : int
        At most this many windows (fewer when the trace is short).
    before_s, after_s : float
        Seconds kept before and after each peak.

    Examples
    --------
    >>> trace = np.zeros(200); trace[50] = 3; trace[150] = 5
    >>> transient_windows(trace, 10.0, n_windows=2)
    [(40, 70), (140, 170)]
    """
    trace = np.nan_to_num(np.asarray(trace, np.float64).ravel())
    n = trace.size
    before, after = max(int(round(before_s * frame_rate)), 1), max(int(round(after_s * frame_rate)), 1)
    taken = np.zeros(n, bool)
    windows = []
    for peak in np.argsort(-trace, kind="stable"):
        if len(windows) == n_windows or (windows and trace[peak] <= 0):
            break
        start, stop = max(int(peak) - before, 0), min(int(peak) + after, n)
        if taken[start:stop].any():
            continue
        taken[max(start - before, 0):min(stop + after, n)] = True
        windows.append((start, stop))
    return sorted(windows)


def clip_box(footprint_pixels: np.ndarray, dims: tuple[int, int], *, margin: int = 8,
             min_size: int = 24) -> tuple[int, int, int, int]:
    """``(r0, r1, c0, c1)``: the bounding box of a footprint's pixels (``row + col*H``) widened to show its surround."""
    height, width = dims
    if footprint_pixels.size == 0:
        return 0, min(height, min_size), 0, min(width, min_size)
    rows, cols = footprint_pixels % height, footprint_pixels // height
    box = []
    for lo, hi, size in ((int(rows.min()), int(rows.max()) + 1, height), (int(cols.min()), int(cols.max()) + 1, width)):
        lo, hi = lo - margin, hi + margin
        grow = max(min_size - (hi - lo), 0)
        lo, hi = lo - grow // 2, hi + grow - grow // 2
        shift = max(-lo, 0) - max(hi - size, 0)
        box += [max(lo + shift, 0), min(hi + shift, size)]
    return tuple(box)


def _to_uint8(movie: np.ndarray, low: float, high: float) -> np.ndarray:
    scale = 255.0 / max(high - low, 1e-12)
    return np.clip((movie - low) * scale, 0, 255).astype(np.uint8)


def clip_panels(raw: np.ndarray, denoised: np.ndarray, residual: np.ndarray, *, scale: int = 1) -> np.ndarray:
    """Three ``(n, h, w)`` movies side by side as 8-bit grey ``(n, h*scale, 3*w*scale + 4)`` (even sizes).

    The raw movie spans its own 1-99.5 percentile range; the denoised and the
    residual movies share one scale (0 to the denoised movie's maximum), the
    residual centred on mid-grey, so what the model misses is seen on the
    same scale as what it explains.
    """
    low, high = np.percentile(raw, [1, 99.5]) if raw.size else (0.0, 1.0)
    peak = float(np.max(denoised)) if denoised.size and np.max(denoised) > 0 else 1.0
    panels = [_to_uint8(raw, low, high), _to_uint8(denoised, 0.0, peak), _to_uint8(residual, -peak / 2, peak / 2)]
    gap = np.zeros(panels[0].shape[:2] + (2,), np.uint8)
    frames = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=2)
    frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    pad = ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2))
    return np.pad(frames, pad)


def encode_clip(frames: np.ndarray, fps: float, fmt: str = "mp4") -> bytes:
    """Encode ``(n, h, w)`` uint8 grey frames (even ``h`` and ``w``) with ``imageio-ffmpeg``'s ffmpeg.

    Raises
    ------
    ValueError
        For an unknown format.
    """
    import imageio_ffmpeg

    if fmt not in CLIP_FORMATS:
        raise ValueError(f"clip format {fmt!r} is not one of {sorted(CLIP_FORMATS)}")
    codec, _, options = CLIP_FORMATS[fmt]
    n, height, width = frames.shape
    with tempfile.TemporaryDirectory(prefix="ace-neuro-clip-") as folder:
        path = Path(folder) / f"clip.{fmt}"
        writer = imageio_ffmpeg.write_frames(
            str(path), (width, height), fps=float(fps), codec=codec, pix_fmt_in="gray", pix_fmt_out="yuv420p",
            macro_block_size=2, output_params=options, ffmpeg_log_level="error")
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        return path.read_bytes()


class ClipMaker:
    """Clips of the components of one evaluated estimates file over its motion-corrected movie.

    Parameters
    ----------
    estimates_path : path
        ``evaluate/estimates.h5`` (footprints, background and ``C`` are read
        from it; ``C`` only at the clip's frames).
    movie_path : path
        The motion step's corrected movie (``.blocks`` or ``.mmap``).
    """

    def __init__(self, estimates_path: str | os.PathLike, movie_path: str | os.PathLike):
        self.estimates_path = Path(estimates_path)
        self.source = MovieSource.from_path(movie_path)
        with h5py.File(self.estimates_path, "r") as h5:
            group = h5["A"]
            shape = tuple(int(s) for s in group["shape"][()])
            self.A = scipy.sparse.csc_matrix((group["data"][()], group["indices"][()], group["indptr"][()]), shape=shape)
            self.dims = tuple(int(d) for d in h5.attrs["dims"])
            self.frame_rate = float(h5.attrs["frame_rate"])
            self.ssub_B = int(h5.attrs["ssub_B"])
            self.b0 = h5["b0"][()] if "b0" in h5 else None
            if "W" in h5:
                w = h5["W"]
                n = tuple(int(s) for s in w["shape"][()])
                self.W = scipy.sparse.csc_matrix((w["data"][()], w["indices"][()], w["indptr"][()]), shape=n).tocsr()
            else:
                self.W = None
            self.n_frames = int(h5["C"].shape[1])
        if self.source.shape != (self.n_frames, *self.dims):
            raise ValueError(f"{movie_path}: movie of shape {self.source.shape} does not match {self.estimates_path} "
                             f"({self.n_frames} frames of {self.dims[0]}x{self.dims[1]}); re-run the workflow")

    def windows(self, k: int) -> list[tuple[int, int]]:
        """Frame windows of component ``k``'s clip (:func:`transient_windows` of ``C[k]``)."""
        with h5py.File(self.estimates_path, "r") as h5:
            return transient_windows(h5["C"][int(k)], self.frame_rate)

    def _window_model(self, start: int, stop: int) -> Estimates:
        with h5py.File(self.estimates_path, "r") as h5:
            C = h5["C"][:, start:stop]
            f = h5["f"][:, start:stop] if "f" in h5 and h5["f"].shape[0] else None
            b = h5["b"][()] if f is not None else None
        return Estimates(A=self.A, C=C, dims=self.dims, frame_rate=self.frame_rate, b0=self.b0, W=self.W,
                         ssub_B=self.ssub_B, b=b, f=f)

    def frames(self, k: int) -> np.ndarray:
        """Component ``k``'s clip as 8-bit grey frames ``(n, h, w)`` (raw | denoised | residual)."""
        if not 0 <= int(k) < self.A.shape[1]:
            raise IndexError(f"component {k} does not exist; ids run from 0 to {self.A.shape[1] - 1}")
        pixels = self.A.indices[self.A.indptr[k]:self.A.indptr[k + 1]]
        r0, r1, c0, c1 = clip_box(pixels, self.dims)
        pieces = {"raw": [], "denoised": [], "residual": []}
        for start, stop in self.windows(k):
            model = self._window_model(start, stop)
            movie = self.source.read(start, stop)  # (H*W, n): whole frames, for the ring background
            neurons = np.asarray(model.A @ model.C, np.float32)
            residual = movie - model.background(movie, slice(0, stop - start)) - neurons
            for name, values in (("raw", movie), ("denoised", neurons), ("residual", residual)):
                frames = pixels_to_frames(values, self.dims)[:, r0:r1, c0:c1]
                pieces[name] += [frames, np.full((GAP_FRAMES,) + frames.shape[1:], np.nan, np.float32)]
        if not pieces["raw"]:
            raise ValueError(f"component {k} has no frames to show")
        movies = {name: np.concatenate(parts[:-1]) for name, parts in pieces.items()}
        gaps = np.isnan(movies["raw"]).all(axis=(1, 2))
        for name in movies:
            movies[name] = np.nan_to_num(movies[name], nan=np.nanmin(movies[name]) if name == "raw" else 0.0)
        scale = max(1, int(np.ceil(120 / (r1 - r0))))
        out = clip_panels(movies["raw"], movies["denoised"], movies["residual"], scale=scale)
        out[gaps] = 0  # black frames between windows
        return out

    def clip(self, k: int, fmt: str = "mp4") -> bytes:
        """Component ``k``'s clip encoded as ``fmt`` (``mp4``: H.264, ``webm``: VP9), played at the recording's rate."""
        return encode_clip(self.frames(k), self.frame_rate, fmt)

