"""The motion-correction workflow step: stream a movie through registration into a CaImAn memory map.

:func:`run_motion_step` is what ``workflow/scripts/motion.py`` calls. It reads
the movie in chunks (a worker pool of ``threads`` processes, each reading,
registering and writing its own chunk), so peak memory is set by the chunk
budget, not the recording length. Outputs in ``out_dir`` (each written under a
temporary name and renamed when complete):

``memmap/corrected_d1_{H}_d2_{W}_d3_1_order_C_frames_{T}.mmap``
    The corrected movie, float32, CaImAn's C-order layout (``caiman.load_memmap``
    opens it); the movie itself, unregistered, when ``apply_motion_correction``
    is false.
``template.tif``
    The registration template (float32; high-passed when ``gSig_filt`` is set).
``shifts.csv``
    Per frame: ``shift_y_px``, ``shift_x_px`` (rigid correcting shift, CaImAn's
    sign: the corrected frame is ``frame(y - shift_y, x - shift_x)``, i.e. minus
    the motion of the content), ``peak_z`` and ``no_structure``.
``patch_shifts.h5``
    ``shifts`` (T, ny, nx, 2) correcting shift per patch, ``centres_y``, ``centres_x``
    (``ny = nx = 0`` and attribute ``pw_rigid`` false for rigid registration).
``metrics.json``
    Per-frame correlation with the template before / after, crispness of the
    mean image before / after, flagged frames, ``border_pix``.
``mean_before_after.png``, ``shifts.png``
    Figures for the report.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import multiprocessing
import os
import re
import time
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np
import pandas as pd
import tifffile

from ..io.atomic import atomic_path
from ..io.movie import caiman_memmap_name, chunk_frames_for, create_caiman_memmap, frame_chunks, open_movie
from ..progress import Progress
from .correct import CorrectedBlock, Registration, correct_frames, make_registration
from .filters import highpass_filter, highpass_kernel
from .params import check_frame_shape, check_params
from .template import combine_group_means, initial_template, registered_mean, template_groups

__all__ = ["run_motion_step", "MEMMAP_BASE"]

#: Base name of the corrected memory map (CaImAn's suffix is appended).
MEMMAP_BASE = "corrected"

#: Bytes of the output file mapped at once by a process (bounds its resident file pages).
_WRITE_BYTES = 32 << 20

_log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- reading / writing


def _read_frames(path: str, start: int, stop: int, dtype=np.float32) -> np.ndarray:
    """Frames [start, stop) as ``dtype`` (``None``: the file's own); the file mapping is released before returning."""
    movie = open_movie(path)
    try:
        return np.array(movie[start:stop], dtype=dtype)
    finally:
        del movie


def _write_frames(mmap_path: str, shape: tuple[int, int, int], start: int, frames: np.ndarray) -> None:
    """Write frames (n, H, W) at ``start`` into a CaImAn C-order memory map, window by window.

    The file holds (H*W, T) with pixel index ``row + col*H``, each pixel's time
    series contiguous, so a block of whole frame columns is a contiguous range
    of bytes. For each block of columns the frames are transposed with OpenCV
    (each frame's columns to rows, then frames to pixels: two cache-friendly
    transposes instead of one strided copy), then the (pixels, n) block is
    written through windows of at most ``_WRITE_BYTES // (4 T)`` pixels, each
    mapped, filled and unmapped, so the file pages a process holds stay below
    ``_WRITE_BYTES`` whatever the recording's length.
    """
    n_frames, height, width = shape
    n = frames.shape[0]
    per_window = max(1, _WRITE_BYTES // (4 * n_frames))
    cols_per_block = max(1, min(width, per_window // height))
    staging = np.empty((n, cols_per_block * height), dtype=np.float32)
    for c0 in range(0, width, cols_per_block):
        c1 = min(width, c0 + cols_per_block)
        n_pixels = (c1 - c0) * height
        for i in range(n):
            cv2.transpose(frames[i, :, c0:c1], dst=staging[i, :n_pixels].reshape(c1 - c0, height))
        block = cv2.transpose(staging[:, :n_pixels])  # (n_pixels, n)
        base = c0 * height
        for p0 in range(0, n_pixels, per_window):
            p1 = min(n_pixels, p0 + per_window)
            window = np.memmap(mmap_path, dtype=np.float32, mode="r+", offset=(base + p0) * n_frames * 4,
                               shape=(p1 - p0, n_frames), order="C")
            window[:, start: start + n] = block[p0:p1]
            del window


def _write_scratch(scratch_path: str, shape: tuple[int, int, int], start: int, frames: np.ndarray) -> None:
    """Write frames (n, H, W) at ``start`` into the frame-ordered scratch file: (T, H*W), pixel ``row + col*H``.

    Each frame is one contiguous run of bytes (its transpose), so the writes are
    sequential; :func:`_scratch_to_memmap` then turns the file into the
    pixel-ordered memory map.
    """
    n_pixels = shape[1] * shape[2]
    fd = os.open(scratch_path, os.O_WRONLY)
    try:
        for i in range(frames.shape[0]):
            data = cv2.transpose(frames[i])
            os.pwrite(fd, data.data, (start + i) * n_pixels * 4)
    finally:
        os.close(fd)


def _scratch_to_memmap_task(task: tuple[int, int, str, str, tuple[int, int, int]]) -> int:
    """Pixels [p0, p1): read their time series from the scratch file, write them contiguously into the memory map."""
    p0, p1, scratch_path, mmap_path, shape = task
    n_frames = shape[0]
    n_pixels = shape[1] * shape[2]
    block = np.empty((n_frames, p1 - p0), dtype=np.float32)
    fd = os.open(scratch_path, os.O_RDONLY)
    try:
        for t in range(n_frames):
            os.preadv(fd, [block[t]], (t * n_pixels + p0) * 4)
    finally:
        os.close(fd)
    series = cv2.transpose(block)  # (p1 - p0, T)
    del block
    fd = os.open(mmap_path, os.O_WRONLY)
    try:
        os.pwrite(fd, series.data, p0 * n_frames * 4)
    finally:
        os.close(fd)
    return p1 - p0


def _scratch_to_memmap(pool, scratch_path: str, mmap_path: str, shape: tuple[int, int, int], budget_mb: float, logger) -> None:
    """Second pass of the two-pass write: pixel blocks of about ``budget_mb / 2`` of time series, in parallel."""
    n_frames, height, width = shape
    n_pixels = height * width
    per_block = max(1, int(budget_mb * 2**20 / 2 // (4 * n_frames)))
    tasks = [(p0, min(n_pixels, p0 + per_block), scratch_path, mmap_path, shape) for p0 in range(0, n_pixels, per_block)]
    progress = Progress(n_pixels, "motion: memory map (pixels)", logger)
    for done in pool.imap(_scratch_to_memmap_task, tasks):
        progress.update(done)


def _fill_border(mmap_path: str, shape: tuple[int, int, int], border: int, value: float) -> None:
    """Set a ``border``-pixel frame edge of every frame of the memory map to ``value``."""
    n_frames, height, width = shape
    border = min(border, (height + 1) // 2, (width + 1) // 2)
    yr_cols = max(1, _WRITE_BYTES // (4 * n_frames * height))
    for c0 in range(0, width, yr_cols):
        c1 = min(width, c0 + yr_cols)
        window = np.memmap(mmap_path, dtype=np.float32, mode="r+", offset=c0 * height * n_frames * 4,
                           shape=(c1 - c0, height, n_frames), order="C")
        for c in range(c0, c1):
            if c < border or c >= width - border:
                window[c - c0] = value
            else:
                window[c - c0, :border] = value
                window[c - c0, height - border:] = value
        del window


# ----------------------------------------------------------------------------- workers


def _openblas_libraries() -> list:
    """OpenBLAS libraries loaded in this process (Linux: from ``/proc/self/maps``)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    libs = []
    for lib_path in sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps))):
        try:
            libs.append(ctypes.CDLL(lib_path))
        except OSError:
            continue
    return libs


def _set_blas_threads(n: int | None) -> int | None:
    """Set the OpenBLAS thread count (``None``: leave); return the previous count.

    The subpixel refinement does many small matrix products; a multi-threaded
    BLAS competing with other processes for the cores makes each of them tens
    of times slower, so registration runs with one BLAS thread per process.
    """
    previous = None
    for lib in _openblas_libraries():
        for suffix in ("64_", ""):
            getter = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None) or getattr(lib, f"openblas_get_num_threads{suffix}", None)
            setter = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None) or getattr(lib, f"openblas_set_num_threads{suffix}", None)
            if getter is not None and setter is not None:
                previous = previous if previous is not None else int(getter())
                if n is not None:
                    setter(ctypes.c_int(int(n)))
                break
    return previous


def _init_worker() -> None:
    cv2.setNumThreads(1)
    _set_blas_threads(1)


def _initial_template_task(task: tuple[str, int, int, np.ndarray | None, tuple[int, int]]) -> np.ndarray:
    path, start, stop, kernel, max_shifts = task
    return initial_template(_group_frames(path, start, stop, kernel), max_shifts)


def _group_mean_task(task: tuple[str, int, int, np.ndarray | None, tuple[int, int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    path, start, stop, kernel, max_shifts, template = task
    return registered_mean(_group_frames(path, start, stop, kernel), template, max_shifts)


def _group_frames(path: str, start: int, stop: int, kernel: np.ndarray | None) -> np.ndarray:
    frames = _read_frames(path, start, stop)
    if kernel is not None:
        for i in range(frames.shape[0]):
            frames[i] = highpass_filter(frames[i], kernel)
    return frames


def _chunk_task(task: tuple[int, int, dict]) -> dict:
    start, stop, job = task
    frames = _read_frames(job["movie"], start, stop, dtype=None)  # converted to float32 frame by frame
    if frames.dtype.kind == "f" and not np.all(np.isfinite(frames)):
        raise ValueError(f"{job['movie']}: frames {start}-{stop - 1} hold NaN or infinite values; fix the preprocess step's output")
    lowest = float(frames.min())
    block = correct_frames(frames, job["registration"])
    del frames
    data = block.frames
    if job["offset"]:
        data += np.float32(job["offset"])
    if job["scratch"]:
        _write_scratch(job["scratch"], job["shape"], start, data)
    else:
        _write_frames(job["mmap"], job["shape"], start, data)
    block.frames = None  # do not send the frames back
    return {"start": start, "block": block, "min": lowest}


class _Pool:
    """``threads`` worker processes, or the calling process when ``threads == 1``.

    Workers are started with ``spawn`` (fresh interpreters: no inherited locks
    of OpenCV's or BLAS's thread pools); a script that calls the step must
    therefore guard its body with ``if __name__ == "__main__":`` (the workflow
    script does). Every process registers with one OpenCV and one BLAS thread.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, int(threads))
        self._pool = None
        self._saved: tuple | None = None
        if self.threads == 1:
            self._saved = (cv2.getNumThreads(), _set_blas_threads(1))
            cv2.setNumThreads(1)
            return
        names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        saved = {k: os.environ.get(k) for k in names}
        os.environ.update({k: "1" for k in names})
        try:
            self._pool = multiprocessing.get_context("spawn").Pool(self.threads, initializer=_init_worker)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def imap(self, fn, tasks):
        if self._pool is None:
            return map(fn, tasks)
        return self._pool.imap(fn, tasks)

    def _restore(self) -> None:
        if self._saved is not None:
            cv_threads, blas_threads = self._saved
            cv2.setNumThreads(cv_threads)
            if blas_threads is not None:
                _set_blas_threads(blas_threads)
            self._saved = None

    def close(self) -> None:
        self._restore()
        if self._pool is not None:
            self._pool.close()
            self._pool.join()

    def terminate(self) -> None:
        self._restore()
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()


# ----------------------------------------------------------------------------- template


def _load_template_file(path: str, frame_shape: tuple[int, int]) -> np.ndarray:
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"motion.template_file {file}: file not found")
    if file.suffix == ".npy":
        image = np.load(file)
    elif file.suffix.lower() in (".tif", ".tiff"):
        image = tifffile.imread(file)
    else:
        raise ValueError(f"motion.template_file {file}: expected a .tif or .npy image")
    image = np.squeeze(np.asarray(image, dtype=np.float32))
    if image.shape != tuple(frame_shape):
        raise ValueError(
            f"motion.template_file {file}: image is {image.shape} but the movie's frames are {tuple(frame_shape)}; "
            "give a template of the (cropped) movie's size"
        )
    if not np.all(np.isfinite(image)):
        raise ValueError(f"motion.template_file {file}: image holds NaN or infinite values")
    return image


def _build_template(movie_path: str, groups: list[tuple[int, int]], params: dict, kernel, pool: _Pool, logger) -> np.ndarray:
    max_shifts = params["max_shifts"]
    middle = groups[len(groups) // 2]
    (template,) = pool.imap(_initial_template_task, [(movie_path, middle[0], middle[1], kernel, max_shifts)])
    if not params["apply_motion_correction"]:
        return template
    for it in range(params["niter_rig"]):
        tasks = [(movie_path, a, b, kernel, max_shifts, template) for a, b in groups]
        results = list(pool.imap(_group_mean_task, tasks))  # (mean, displacements) per group
        template = combine_group_means([m for m, _ in results], np.concatenate([d for _, d in results]))
        logger.info("motion: template pass %d/%d over %d groups of frames", it + 1, params["niter_rig"], len(groups))
    return template


def _movie_itemsize(path: str) -> int:
    movie = open_movie(path)
    try:
        return int(movie.dtype.itemsize)
    finally:
        del movie


def _sample_stats(movie_path: str, groups: list[tuple[int, int]]) -> tuple[float, float]:
    lo, hi = math.inf, -math.inf
    for a, b in groups:
        frames = _read_frames(movie_path, a, b, dtype=None)
        if frames.dtype.kind == "f" and not np.all(np.isfinite(frames)):
            raise ValueError(
                f"{movie_path}: frames {a}-{b - 1} hold NaN or infinite values; fix the preprocess step's output"
            )
        lo, hi = min(lo, float(frames.min())), max(hi, float(frames.max()))
    return lo, hi


# ----------------------------------------------------------------------------- the step


def run_motion_step(
    movie_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    params: Mapping[str, Any] | None = None,
    threads: int = 1,
    logger: logging.Logger | None = None,
    chunk_mb: float = 256.0,
) -> dict:
    """Motion-correct a movie into a CaImAn memory map, with shifts, template, metrics and figures.

    Parameters
    ----------
    movie_path : path-like
        Input movie (T, H, W): TIFF or CaImAn ``.mmap`` (the preprocess output).
    out_dir : path-like
        Output folder (``results/{id}/motion``); see the module docstring for its files.
    params : mapping, optional
        Motion parameters (:mod:`ace_neuro.motion.params`); missing keys take defaults.
    threads : int
        Worker processes (the rule's ``threads``).
    logger : logging.Logger, optional
        Where progress goes.
    chunk_mb : float
        Memory budget of one chunk per worker (its input frames plus their
        float32 corrections); peak memory is about ``chunk_mb * threads`` plus
        the template's data and the interpreters, independent of the recording
        length. Larger chunks write the output (pixels x time) in longer runs.

    Returns
    -------
    dict
        The metrics written to ``metrics.json`` (without the per-frame lists).

    Raises
    ------
    ParameterError, ValueError, FileNotFoundError
        Bad parameters for this movie (``max_shifts`` too large, frame smaller
        than a patch), a constant movie, an unreadable template file.
    """
    logger = logger or _log
    started = time.perf_counter()
    p = check_params(dict(params or {}))
    movie_path = os.fspath(movie_path)
    out_dir = Path(out_dir)
    movie = open_movie(movie_path)
    n_frames, height, width = (int(s) for s in movie.shape)
    del movie
    if n_frames < 1 or height < 2 or width < 2:
        raise ValueError(f"{movie_path}: movie of shape {(n_frames, height, width)} has no usable frames")
    check_frame_shape(p, (height, width))
    kernel = highpass_kernel(p["gSig_filt"]) if p["gSig_filt"] is not None else None
    groups = template_groups(n_frames, p["splits_rig"], p["num_frames_split"])
    lo, hi = _sample_stats(movie_path, groups)
    if hi <= lo:
        raise ValueError(
            f"{movie_path}: the movie is constant (every sampled frame equals {lo:g}); there is nothing to register. "
            "Check the recording and the preprocess step's output"
        )
    offset = max(0.0, -lo) if p["nonneg_movie"] else 0.0
    logger.info(
        "motion: %s, %d frames of %dx%d, %s%s, %d worker(s)", movie_path, n_frames, height, width,
        "pw-rigid" if p["pw_rigid"] else "rigid", "" if p["apply_motion_correction"] else " (registration off)", threads,
    )

    pool = _Pool(threads)
    try:
        if p["template_file"]:
            raw = _load_template_file(p["template_file"], (height, width))
            template = highpass_filter(raw, kernel) if kernel is not None else raw
            template_source = os.fspath(p["template_file"])
        else:
            template = _build_template(movie_path, groups, p, kernel, pool, logger)
            template_source = "data"
        if not np.ptp(template) > 0:
            raise ValueError(
                f"{movie_path}: the template has no structure (constant after filtering with gSig_filt="
                f"{p['gSig_filt']}); the movie is constant or gSig_filt is far too large"
            )
        registration = make_registration(template, p)
        shape = (n_frames, height, width)
        # a worker holds its chunk's input frames (the file's dtype) and their float32 corrections
        chunk = chunk_frames_for((height, width), chunk_mb, itemsize=4 + _movie_itemsize(movie_path))
        with atomic_path(out_dir / "memmap") as tmp_dir:
            tmp_dir.mkdir(parents=True)
            mmap_path = tmp_dir / caiman_memmap_name(MEMMAP_BASE, height, width, n_frames)
            del_view = create_caiman_memmap(mmap_path, height, width, n_frames)
            del del_view
            # More than one chunk: the corrected frames go to a frame-ordered scratch file (sequential writes) and
            # one transposing pass writes each block of pixels' time series contiguously; writing chunks straight
            # into the (pixels x T) map would touch every page of its pixels once per chunk (docs/motion.md).
            scratch = tmp_dir / "frames.scratch" if n_frames > chunk else None
            if scratch is not None:
                with open(scratch, "wb") as f:
                    f.truncate(n_frames * height * width * 4)
            job = {"movie": movie_path, "registration": registration, "mmap": os.fspath(mmap_path), "shape": shape,
                   "offset": offset, "scratch": os.fspath(scratch) if scratch is not None else None}
            results = _correct_movie(pool, n_frames, chunk, job, logger)
            if scratch is not None:
                _scratch_to_memmap(pool, os.fspath(scratch), os.fspath(mmap_path), shape, chunk_mb, logger)
                scratch.unlink()
            border_pix = _border_pix(results, p)
            if border_pix > 0:
                logger.info("motion: setting a %d-pixel border of every frame to the movie's minimum (border_nan=%r)", border_pix, p["border_nan"])
                _fill_border(os.fspath(mmap_path), shape, border_pix, results["movie_min"] + offset)
        pool.close()
    except BaseException:
        pool.terminate()
        raise

    elapsed = time.perf_counter() - started
    metrics = _metrics(results, p, border_pix, offset, template_source, (height, width), elapsed, threads, movie_path)
    _write_outputs(out_dir, template, results, metrics, registration, p)
    logger.info(
        "motion: done in %.1f s (%.1f frames/s); correlation with template %.3f -> %.3f; border_pix %d; %d frame(s) without structure",
        elapsed, n_frames / elapsed, metrics["correlation_before_mean"], metrics["correlation_after_mean"],
        border_pix, metrics["n_no_structure_frames"],
    )
    return {k: v for k, v in metrics.items() if k not in ("correlation_before", "correlation_after")}


def _correct_movie(pool: _Pool, n_frames: int, chunk: int, job: dict, logger) -> dict:
    reg = job["registration"]
    tasks = [(s.start, s.stop, job) for s in frame_chunks(n_frames, chunk)]
    progress = Progress(n_frames, "motion", logger)
    shifts = np.zeros((n_frames, 2))
    peak_z = np.zeros(n_frames)
    no_structure = np.zeros(n_frames, dtype=bool)
    corr_before = np.zeros(n_frames)
    corr_after = np.zeros(n_frames)
    patch_shifts = None if reg.grid is None else np.zeros((n_frames,) + reg.grid.shape + (2,), dtype=np.float32)
    sums: dict[str, np.ndarray] = {}
    lowest = math.inf
    for result in pool.imap(_chunk_task, tasks):
        lowest = min(lowest, result["min"])
        start, block = result["start"], result["block"]
        assert isinstance(block, CorrectedBlock)
        stop = start + block.shifts.shape[0]
        shifts[start:stop] = block.shifts
        peak_z[start:stop] = block.peak_z
        no_structure[start:stop] = block.no_structure
        corr_before[start:stop] = block.corr_before
        corr_after[start:stop] = block.corr_after
        if patch_shifts is not None:
            patch_shifts[start:stop] = block.patch_shifts
        for key, value in block.sums.items():
            sums[key] = sums[key] + value if key in sums else value.astype(np.float64)
        progress.update(stop - start)
    means = {key: (value / n_frames).astype(np.float32) for key, value in sums.items()}
    return dict(shifts=shifts, peak_z=peak_z, no_structure=no_structure, corr_before=corr_before,
                corr_after=corr_after, patch_shifts=patch_shifts, means=means, movie_min=lowest)


def _border_pix(results: dict, p: dict) -> int:
    """The seed's border: ceil of the largest |shift| (patch shifts for pw-rigid); 0 with border_nan='copy'."""
    if p["border_nan"] == "copy" and not isinstance(p["border_nan"], bool):
        return 0
    largest = np.abs(results["shifts"]).max(initial=0.0)
    if results["patch_shifts"] is not None:
        largest = max(largest, float(np.abs(results["patch_shifts"]).max(initial=0.0)))
    return int(math.ceil(largest - 1e-6))


def _crispness(image: np.ndarray, border: int) -> float:
    """CaImAn's crispness: norm of the gradient of a mean image (border cropped)."""
    if border > 0:
        image = image[border:-border, border:-border]
    gy, gx = np.gradient(image.astype(np.float64))
    return float(np.sqrt(np.sum(gy**2 + gx**2)))


def _metrics(results, p, border_pix, offset, template_source, frame_shape, elapsed, threads, movie_path) -> dict:
    shifts = results["shifts"]
    crop = max(p["max_shifts"]) + (p["max_deviation_rigid"] if p["pw_rigid"] else 0) + 2
    at_limit = np.any(np.abs(shifts) >= np.asarray(p["max_shifts"]) - 0.05, axis=1) & np.any(np.asarray(p["max_shifts"]) > 0)
    from .. import __version__ as version  # noqa: PLC0415

    return {
        "input": movie_path,
        "version": version,
        "n_frames": int(shifts.shape[0]),
        "frame_shape": list(frame_shape),
        "registered": bool(p["apply_motion_correction"]),
        "pw_rigid": bool(p["pw_rigid"] and p["apply_motion_correction"]),
        "shift_convention": "correcting shift (CaImAn's): corrected(y, x) = frame(y - shift_y, x - shift_x) = minus the motion of the content",
        "template_source": template_source,
        "border_pix": int(border_pix),
        "offset_added": float(offset),
        "max_abs_shift_px": float(np.abs(shifts).max(initial=0.0)),
        "correlation_before_mean": float(np.mean(results["corr_before"])),
        "correlation_after_mean": float(np.mean(results["corr_after"])),
        "crispness_before": _crispness(results["means"]["raw_before"], crop),
        "crispness_after": _crispness(results["means"]["raw_after"], crop),
        "crispness_highpass_before": _crispness(results["means"]["hp_before"], crop),
        "crispness_highpass_after": _crispness(results["means"]["hp_after"], crop),
        "n_no_structure_frames": int(results["no_structure"].sum()),
        "no_structure_frames": np.flatnonzero(results["no_structure"]).tolist(),
        "n_frames_at_max_shifts": int(at_limit.sum()),
        "elapsed_s": round(float(elapsed), 3),
        "frames_per_s": round(float(shifts.shape[0] / elapsed), 2),
        "threads": int(threads),
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()},
        "correlation_before": np.round(results["corr_before"], 5).tolist(),
        "correlation_after": np.round(results["corr_after"], 5).tolist(),
    }


def _write_outputs(out_dir: Path, template, results, metrics, reg: Registration, p) -> None:
    from .figures import plot_mean_before_after, plot_shifts  # noqa: PLC0415  (matplotlib only here)

    with atomic_path(out_dir / "template.tif") as tmp:
        tifffile.imwrite(tmp, np.asarray(template, dtype=np.float32), imagej=True)
    table = pd.DataFrame({
        "frame": np.arange(metrics["n_frames"]),
        "shift_y_px": np.round(results["shifts"][:, 0], 4),
        "shift_x_px": np.round(results["shifts"][:, 1], 4),
        "peak_z": np.round(results["peak_z"], 2),
        "no_structure": results["no_structure"].astype(int),
    })
    with atomic_path(out_dir / "shifts.csv") as tmp:
        table.to_csv(tmp, index=False)
    import h5py  # noqa: PLC0415

    with atomic_path(out_dir / "patch_shifts.h5") as tmp:
        with h5py.File(tmp, "w") as f:
            # rigid registration: no patches, an empty (T, 0, 0, 2) array
            patch_shifts = results["patch_shifts"]
            if patch_shifts is None:
                patch_shifts = np.zeros((metrics["n_frames"], 0, 0, 2), np.float32)
            f.create_dataset("shifts", data=patch_shifts, compression="gzip")
            f["centres_y"] = reg.grid.centres_y if reg.grid is not None else np.zeros(0)
            f["centres_x"] = reg.grid.centres_x if reg.grid is not None else np.zeros(0)
            f.attrs["pw_rigid"] = reg.grid is not None
            f.attrs["patch_size"] = list(reg.grid.size) if reg.grid is not None else []
            f.attrs["convention"] = "shifts[t, i, j] = correcting (dy, dx) of patch (i, j) = minus its displacement"
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1) + "\n")
    plot_mean_before_after(results["means"], out_dir / "mean_before_after.png", highpassed=p["gSig_filt"] is not None)
    plot_shifts(results["shifts"], results["corr_before"], results["corr_after"], out_dir / "shifts.png",
                results["no_structure"])
