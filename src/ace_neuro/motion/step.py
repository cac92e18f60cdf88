"""The motion-correction workflow step: stream a movie through registration into the corrected movie files.

:func:`correct_motion` takes explicit output paths; :func:`run_motion_step`
names them inside one output folder (the current workflow script). The movie
is read in chunks (a worker pool of ``threads`` processes, each reading,
registering and writing its own chunk), so peak memory is set by the chunk
budget, not the recording length. Every output is written under a temporary
name and renamed when complete:

``memmap`` (a folder)
    ``corrected_d1_{H}_d2_{W}_frames_{T}_block_{B}_{dtype}.blocks``: the
    corrected movie in blocks of ``B`` frames (:mod:`ace_neuro.io.memmap`), the
    file CNMF-E and evaluate read (a chunk of frames is one contiguous read);
    written straight by the workers, no scratch copy. With ``save_memmap``
    (default) also ``corrected_d1_{H}_d2_{W}_d3_1_order_C_frames_{T}.mmap``,
    CaImAn's float32 C-order memory map (``caiman.load_memmap`` opens it),
    transposed from the block file in one pass. Without registration
    (``apply_motion_correction: false``) the movie itself.
``template``
    The registration template (float32 TIFF; high-passed when ``gSig_filt`` is set).
``shifts``
    CSV, per frame: ``shift_y_px``, ``shift_x_px`` (rigid correcting shift, CaImAn's
    sign: the corrected frame is ``frame(y - shift_y, x - shift_x)``, i.e. minus
    the motion of the content), ``peak_z`` and ``no_structure``.
``patch_shifts``
    HDF5: ``shifts`` (T, ny, nx, 2) correcting shift per patch, ``centres_y``, ``centres_x``
    (``ny = nx = 0`` and attribute ``pw_rigid`` false for rigid registration).
``metrics``
    JSON: per-frame correlation with the template before / after, crispness of
    the mean image before / after, flagged frames, ``border_pix``.
``mean_png``, ``shifts_png``
    Figures for the report.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import cv2
import numpy as np
import tifffile

from ..allocator import keep_freed_memory
from ..blas import set_blas_threads
from ..io.atomic import atomic_path
from ..io.memmap import (
    blocks_name,
    caiman_memmap_name,
    create_blocks,
    fill_border_blocks,
    write_blocks,
    write_caiman_from_blocks,
)
from ..io.movie import chunk_frames_for, frame_chunks, open_movie
from ..pools import map_in_order, process_pool, stop_pool
from ..progress import Progress
from .correct import CorrectedBlock, correct_frames, make_registration
from .filters import highpass_filter, highpass_kernel
from .metrics import motion_metrics
from .params import MotionOptions, blocks_dtype_for, check_frame_shape, motion_options, with_resolved_max_shifts
from .template import combine_group_means, initial_template, registered_mean, template_groups

if TYPE_CHECKING:
    from .outputs import MotionResult

__all__ = ["correct_motion", "run_motion_step", "motion_outputs", "MEMMAP_BASE"]

#: Base name of the corrected movie files (CaImAn's suffix is appended).
MEMMAP_BASE = "corrected"

#: Memory of one block of the frame-block file (MB): the chunk CNMF-E reads with its default budget.
_BLOCK_MB = 64.0

#: The registration of the movie, loaded once in every worker (never sent with each chunk): the job itself (one
#: process), or the job read from the file its chunk tasks name (worker processes); ``_JOB_FILE`` is that file.
_JOB: dict | None = None
_JOB_FILE: str | None = None

_log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- reading / writing


def _read_frames(path: str, start: int, stop: int, dtype=np.float32) -> np.ndarray:
    """Frames [start, stop) as ``dtype`` (``None``: the file's own); the file mapping is released before returning."""
    movie = open_movie(path)
    try:
        return np.array(movie[start:stop], dtype=dtype)
    finally:
        del movie


# ----------------------------------------------------------------------------- workers


def _init_worker(job: dict | None = None) -> None:
    global _JOB
    keep_freed_memory()  # every frame's and chunk's arrays reused, not faulted in again (docs/motion.md)
    cv2.setNumThreads(1)
    set_blas_threads(1)
    _JOB = job


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


def _chunk_task(task: tuple[int, int, str | None]) -> dict:
    start, stop, job_file = task
    job = _job(job_file)
    frames = _read_frames(job["movie"], start, stop, dtype=None)  # converted to float32 frame by frame
    if frames.dtype.kind == "f" and not np.all(np.isfinite(frames)):
        raise ValueError(f"{job['movie']}: frames {start}-{stop - 1} hold NaN or infinite values; fix the preprocess step's output")
    lowest = float(frames.min())
    block = correct_frames(frames, job["registration"])
    del frames
    data = block.frames
    if job["offset"]:
        data += np.float32(job["offset"])
    write_blocks(job["blocks"], start, data)
    block.frames = None  # do not send the frames back
    return {"start": start, "block": block, "min": lowest}


def _job(job_file: str | None) -> dict:
    """The registration job of a chunk task: this process's, or the one in ``job_file`` (read once per worker)."""
    global _JOB, _JOB_FILE
    if job_file is not None and job_file != _JOB_FILE:
        with open(job_file, "rb") as file:
            _JOB = pickle.load(file)
        _JOB_FILE = job_file
    assert _JOB is not None, "motion: a chunk task ran before the pool was given its job"
    return _JOB


class _Pool:
    """``threads`` worker processes, or the calling process when ``threads == 1``.

    Workers are started with ``spawn`` (fresh interpreters: no inherited locks
    of OpenCV's or BLAS's thread pools); a script that calls the step must
    therefore guard its body with ``if __name__ == "__main__":`` (the workflow
    script does). Every process registers with one OpenCV and one BLAS thread.
    One pool serves the template passes and then the registration of every
    chunk (:meth:`set_job`): its workers start once per step, on a thread, while
    this process builds the first template (:meth:`run_here`).
    """

    def __init__(self, threads: int, job: dict | None = None, folder: str | os.PathLike | None = None) -> None:
        global _JOB
        self.threads = max(1, int(threads))
        self.folder = folder  # where the job writes: its free space is reported if a worker dies
        self._pool = None
        self._saved: tuple | None = None
        self.job_file: str | None = None  # the registration job the workers read (set_job), None in one process
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None
        if self.threads == 1:
            keep_freed_memory()  # as the workers (this process registers the frames)
            self._saved = (cv2.getNumThreads(), set_blas_threads(1))
            cv2.setNumThreads(1)
            _JOB = job
            return
        # the workers start on a thread: this process meanwhile builds the first template (run_here)
        self._starting = threading.Thread(target=self._start, args=(job,), name="motion-pool-start", daemon=True)
        self._starting.start()

    def _start(self, job: dict | None) -> None:
        names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        saved = {k: os.environ.get(k) for k in names}
        os.environ.update({k: "1" for k in names})
        try:
            # concurrent.futures, not multiprocessing.Pool: a worker that dies (SIGBUS, OOM) breaks the pool at once
            self._pool = process_pool(self.threads, initializer=_init_worker, initargs=(job,))
        except BaseException as err:  # raised in the step's thread (_ready)
            self._start_error = err
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _ready(self) -> None:
        """Wait for the workers started in ``__init__``; their start's error, if any, is raised here."""
        if self._starting is None:
            return
        self._starting.join()
        self._starting = None
        if self._start_error is not None:
            raise self._start_error

    def run_here(self, fn, task):
        """``fn(task)`` in this process, as a worker runs it (one OpenCV and one BLAS thread: the same bits), while
        the workers start."""
        if self.threads == 1:
            return fn(task)
        cv_threads, blas_threads = cv2.getNumThreads(), set_blas_threads(1)
        cv2.setNumThreads(1)
        try:
            return fn(task)
        finally:
            cv2.setNumThreads(cv_threads)
            if blas_threads is not None:
                set_blas_threads(blas_threads)

    def set_job(self, job: dict, folder: str | os.PathLike) -> None:
        """The registration job of the chunk tasks: kept in this process, or written once to a file in
        ``folder`` (the output's temporary folder, so a kill leaves nothing else behind) that each worker reads at
        its first chunk; :meth:`drop_job` removes it."""
        global _JOB
        self._ready()
        if self._pool is None:
            _JOB = job
            return
        self.drop_job()
        with tempfile.NamedTemporaryFile(dir=folder, prefix="motion_job.", suffix=".pickle", delete=False) as f:
            pickle.dump(job, f, protocol=pickle.HIGHEST_PROTOCOL)
        self.job_file = f.name

    def drop_job(self) -> None:
        """Remove the job's file (every chunk task done)."""
        self._remove_job_file()

    def _remove_job_file(self) -> None:
        if self.job_file is not None:
            Path(self.job_file).unlink(missing_ok=True)
            self.job_file = None

    def imap(self, fn, tasks):
        self._ready()
        if self._pool is None:
            return map(fn, tasks)
        return map_in_order(self._pool, fn, tasks, what="motion", folder=self.folder)

    def _restore(self) -> None:
        global _JOB
        _JOB = None
        self._remove_job_file()
        if self._saved is not None:
            cv_threads, blas_threads = self._saved
            cv2.setNumThreads(cv_threads)
            if blas_threads is not None:
                set_blas_threads(blas_threads)
            self._saved = None

    def close(self) -> None:
        self._restore()
        self._ready()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def terminate(self) -> None:
        self._restore()
        try:
            self._ready()
        except BaseException:  # the step failed already: its error stands
            pass
        if self._pool is not None:
            stop_pool(self._pool)


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


def _build_template(
    movie_path: str, groups: list[tuple[int, int]], kernel, pool: _Pool, logger, *, max_shifts: tuple[int, int],
    apply_motion_correction: bool, niter_rig: int,
) -> np.ndarray:
    middle = groups[len(groups) // 2]
    # the first template (one group) in this process while the workers start: before, one worker built it alone
    template = pool.run_here(_initial_template_task, (movie_path, middle[0], middle[1], kernel, max_shifts))
    if not apply_motion_correction:
        return template
    for it in range(niter_rig):
        tasks = [(movie_path, a, b, kernel, max_shifts, template) for a, b in groups]
        results = list(pool.imap(_group_mean_task, tasks))  # (mean, displacements) per group
        template = combine_group_means([m for m, _ in results], np.concatenate([d for _, d in results]))
        logger.info("motion: template pass %d/%d over %d groups of frames", it + 1, niter_rig, len(groups))
    return template


def _movie_dtype(path: str) -> np.dtype:
    movie = open_movie(path)
    try:
        return np.dtype(movie.dtype)
    finally:
        del movie


def _movie_itemsize(path: str) -> int:
    return int(_movie_dtype(path).itemsize)


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


#: Output names of :func:`run_motion_step` in its folder, by output key of :func:`correct_motion`.
_OUTPUT_NAMES = {
    "memmap": "memmap",
    "template": "template.tif",
    "shifts": "shifts.csv",
    "metrics": "metrics.json",
    "patch_shifts": "patch_shifts.h5",
    "mean_png": "mean_before_after.png",
    "shifts_png": "shifts.png",
}


def motion_outputs(out_dir: str | os.PathLike) -> dict[str, Path]:
    """The output paths :func:`run_motion_step` uses in ``out_dir`` (the workflow's names)."""
    return {key: Path(out_dir) / name for key, name in _OUTPUT_NAMES.items()}


def run_motion_step(
    movie_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    threads: int = 1,
    logger: logging.Logger | None = None,
    **params: Any,
) -> dict:
    """:func:`correct_motion` with every output in ``out_dir`` under the names of :func:`motion_outputs`.

    The notebook entry point: ``params`` are motion parameters by CaImAn's
    names (``max_shifts=(8, 8)``, ``pw_rigid=True``, ``motion_chunk_mb=64``),
    checked by :func:`~ace_neuro.motion.params.motion_options`; the rest take
    their defaults.
    """
    return correct_motion(movie_path, motion_outputs(out_dir), motion_options(**params), threads=threads,
                          logger=logger)


def correct_motion(
    movie_path: str | os.PathLike,
    outputs: Mapping[str, str | os.PathLike | None],
    options: MotionOptions | None = None,
    *,
    threads: int = 1,
    logger: logging.Logger | None = None,
) -> dict:
    """Motion-correct a movie into the corrected movie files, with shifts, template, metrics and figures.

    Parameters
    ----------
    movie_path : path-like
        Input movie (T, H, W): TIFF or CaImAn ``.mmap`` (the preprocess output).
    outputs : mapping of str to path
        Where each output goes (see the module docstring): ``memmap`` (a
        folder), ``template``, ``shifts``, ``patch_shifts``, ``metrics``,
        ``mean_png``, ``shifts_png``; all required.
    options : MotionOptions, optional
        Checked settings (:func:`~ace_neuro.motion.params.motion_options`);
        default: every parameter's default. ``options.motion_chunk_mb`` is the
        memory budget of one chunk per worker (its input frames plus their
        float32 corrections): peak memory is about ``motion_chunk_mb * threads``
        plus the template's data and the interpreters, independent of the
        recording length.
    threads : int
        Worker processes (the rule's ``threads``).
    logger : logging.Logger, optional
        Where progress goes.

    Returns
    -------
    dict
        The metrics written to ``metrics`` (without the per-frame lists).

    Raises
    ------
    ParameterError, ValueError, FileNotFoundError
        Bad parameters for this movie (``max_shifts`` too large, frame smaller
        than a patch), a constant movie, an unreadable template file, a missing
        required output path.
    """
    logger = logger or _log
    started = time.perf_counter()
    missing = [key for key in _OUTPUT_NAMES if not outputs.get(key)]
    if missing:
        raise ValueError(f"correct_motion: output path(s) {missing} not given")
    options = options if options is not None else motion_options()
    movie_path = os.fspath(movie_path)
    n_frames, height, width = _movie_shape(movie_path)
    options = with_resolved_max_shifts(options, (height, width), logger)
    check_frame_shape(
        (height, width), max_shifts=options.max_shifts, pw_rigid=options.pw_rigid,
        apply_motion_correction=options.apply_motion_correction, strides=options.strides,
        overlaps=options.overlaps, max_deviation_rigid=options.max_deviation_rigid,
    )
    kernel = highpass_kernel(options.gSig_filt) if options.gSig_filt is not None else None
    groups = template_groups(n_frames, options.splits_rig, options.num_frames_split)
    offset = _movie_offset(movie_path, groups, options.nonneg_movie)
    logger.info(
        "motion: %s, %d frames of %dx%d, %s%s, %d worker(s)", movie_path, n_frames, height, width,
        "pw-rigid" if options.pw_rigid else "rigid", "" if options.apply_motion_correction else " (registration off)",
        threads,
    )
    folder = Path(outputs["memmap"]).parent  # where the step writes: its free space is reported if a worker dies
    pool = _Pool(threads, folder=folder)  # one pool for the template and the registration: workers start once
    try:
        template, template_source = _template(movie_path, groups, kernel, options, (height, width), pool, logger)
        registration = make_registration(template, options)
        results, border_pix = _write_corrected_movie(
            movie_path, outputs["memmap"], registration, options, (n_frames, height, width), offset, pool, logger,
        )
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    elapsed = time.perf_counter() - started
    metrics = _metrics(results, options, border_pix, offset, template_source, (height, width), elapsed, threads,
                       movie_path)
    from .outputs import write_motion_outputs  # noqa: PLC0415 (pandas: not imported by every worker)

    write_motion_outputs(_motion_result(template, results, registration), outputs, metrics,
                         highpassed=options.gSig_filt is not None)
    logger.info(
        "motion: done in %.1f s (%.1f frames/s); correlation with template %.3f -> %.3f; border_pix %d; %d frame(s) without structure",
        elapsed, n_frames / elapsed, metrics["correlation_before_mean"], metrics["correlation_after_mean"],
        border_pix, metrics["n_no_structure_frames"],
    )
    _warn_at_max_shifts(metrics["n_frames_at_max_shifts"], n_frames, options.max_shifts, (height, width), logger)
    return {k: v for k, v in metrics.items() if k not in ("correlation_before", "correlation_after")}


def _warn_at_max_shifts(n_at_bound: int, n_frames: int, max_shifts: tuple[int, int], frame_shape: tuple[int, int],
                        logger) -> None:
    """A warning when rigid shifts reached ``max_shifts``: those frames moved further and are corrected only so far.

    Parameters
    ----------
    n_at_bound : int
        Frames whose rigid shift reached ``max_shifts`` on either axis (``metrics.json``'s
        ``n_frames_at_max_shifts``).
    n_frames : int
        Frames of the movie.
    max_shifts : (int, int)
        The search's bound (rows, cols), pixels.
    frame_shape : (int, int)
        (H, W): ``max_shifts`` must stay below half of it.
    logger : logging.Logger
    """
    if n_at_bound <= 0:
        return
    limit = ((frame_shape[0] - 1) // 2, (frame_shape[1] - 1) // 2)
    logger.warning(
        "motion: %d of %d frames reached motion.max_shifts %s (the largest shift searched): the brain moved further "
        "in them, so they are corrected only that far and their cells are blurred or doubled; raise max_shifts "
        "(below half the frame, %s) and run motion again", n_at_bound, n_frames, list(max_shifts), list(limit),
    )


def _movie_shape(movie_path: str) -> tuple[int, int, int]:
    """The movie's ``(n_frames, height, width)``; an error when it has no frame or frames under 2x2 pixels."""
    movie = open_movie(movie_path)
    n_frames, height, width = (int(s) for s in movie.shape)
    del movie
    if n_frames < 1 or height < 2 or width < 2:
        raise ValueError(f"{movie_path}: movie of shape {(n_frames, height, width)} has no usable frames")
    return n_frames, height, width


def _movie_offset(movie_path: str, groups: list[tuple[int, int]], nonneg_movie: bool) -> float:
    """Value added to every frame (``-min`` of sampled frames if ``nonneg_movie``, else 0); error if constant."""
    lo, hi = _sample_stats(movie_path, groups)
    if hi <= lo:
        raise ValueError(
            f"{movie_path}: the movie is constant (every sampled frame equals {lo:g}); there is nothing to register. "
            "Check the recording and the preprocess step's output"
        )
    return max(0.0, -lo) if nonneg_movie else 0.0


def _template(
    movie_path: str, groups: list[tuple[int, int]], kernel, options: MotionOptions, frame_shape: tuple[int, int],
    pool: _Pool, logger,
) -> tuple[np.ndarray, str]:
    """The registration template ``(H, W)`` float32 (the given file or built from the data) and where it came from."""
    if options.template_file:
        raw = _load_template_file(options.template_file, frame_shape)
        template = highpass_filter(raw, kernel) if kernel is not None else raw
        template_source = os.fspath(options.template_file)
    else:
        template = _build_template(
            movie_path, groups, kernel, pool, logger, max_shifts=options.max_shifts,
            apply_motion_correction=options.apply_motion_correction, niter_rig=options.niter_rig,
        )
        template_source = "data"
    if not np.ptp(template) > 0:
        raise ValueError(
            f"{movie_path}: the template has no structure (constant after filtering with gSig_filt="
            f"{options.gSig_filt}); the movie is constant or gSig_filt is far too large"
        )
    return template, template_source


def _block_and_chunk(movie_path: str, frame_shape: tuple[int, int], chunk_mb: float) -> tuple[int, int]:
    """Frames per block of the block file and per worker chunk (a whole number of blocks within ``chunk_mb`` MB)."""
    # blocks of ~64 MB (an even number of frames: CNMF-E's chunks with tsub = 2); a worker's chunk is a
    # whole number of blocks and holds its input frames (the file's dtype) and their float32 corrections
    block = max(2, chunk_frames_for(frame_shape, _BLOCK_MB) // 2 * 2)
    chunk = chunk_frames_for(frame_shape, chunk_mb, itemsize=4 + _movie_itemsize(movie_path))
    return block, max(block, chunk // block * block)


def _write_corrected_movie(
    movie_path: str, memmap_dir: str | os.PathLike, registration, options: MotionOptions,
    shape: tuple[int, int, int], offset: float, pool: _Pool, logger,
) -> tuple[dict, int]:
    """Register every frame into the ``memmap`` folder; the results of :func:`_correct_movie` and ``border_pix``."""
    n_frames, height, width = shape
    block, chunk = _block_and_chunk(movie_path, (height, width), options.motion_chunk_mb)
    with atomic_path(memmap_dir) as tmp_dir:
        tmp_dir.mkdir(parents=True)
        blocks_dtype = blocks_dtype_for(options.blocks_dtype, _movie_dtype(movie_path))
        blocks_path = tmp_dir / blocks_name(MEMMAP_BASE, height, width, n_frames, block, blocks_dtype)
        create_blocks(blocks_path)
        pool.set_job({"movie": movie_path, "registration": registration, "blocks": os.fspath(blocks_path),
                      "offset": offset}, tmp_dir)
        results = _correct_movie(pool, n_frames, chunk, logger)
        results["blocks_dtype"] = blocks_dtype
        pool.drop_job()  # not one of the folder's outputs
        border_pix = _border_pix(results, options.border_nan)
        if border_pix > 0:
            logger.info("motion: setting a %d-pixel border of every frame to the movie's minimum (border_nan=%r)",
                        border_pix, options.border_nan)
            fill_border_blocks(blocks_path, border_pix, results["movie_min"] + offset)
        if options.save_memmap:
            progress = Progress(height * width, "motion: CaImAn memory map", logger, unit="pixels")
            write_caiman_from_blocks(blocks_path, tmp_dir / caiman_memmap_name(MEMMAP_BASE, height, width, n_frames),
                                     budget_mb=options.motion_chunk_mb / 2, imap=pool.imap, progress=progress.update)
    return results, border_pix


def _motion_result(template: np.ndarray, results: dict, registration) -> MotionResult:
    """The engine's :class:`MotionResult` from the per-frame results of :func:`_correct_movie`."""
    from .outputs import MotionResult  # noqa: PLC0415

    grid = registration.grid
    return MotionResult(
        template=template, shifts=results["shifts"], corr_before=results["corr_before"],
        corr_after=results["corr_after"], means=results["means"], peak_z=results["peak_z"],
        no_structure=results["no_structure"], patch_shifts=results["patch_shifts"],
        centres=None if grid is None else (grid.centres_y, grid.centres_x),
        patch_size=None if grid is None else tuple(grid.size), engine="native",
    )


def _correct_movie(pool: _Pool, n_frames: int, chunk: int, logger) -> dict:
    tasks = [(s.start, s.stop, pool.job_file) for s in frame_chunks(n_frames, chunk)]
    progress = Progress(n_frames, "motion", logger)
    shifts = np.zeros((n_frames, 2))
    peak_z = np.zeros(n_frames)
    no_structure = np.zeros(n_frames, dtype=bool)
    corr_before = np.zeros(n_frames)
    corr_after = np.zeros(n_frames)
    patch_shifts = None
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
        if block.patch_shifts is not None:
            if patch_shifts is None:
                patch_shifts = np.zeros((n_frames,) + block.patch_shifts.shape[1:], dtype=np.float32)
            patch_shifts[start:stop] = block.patch_shifts
        for key, value in block.sums.items():
            sums[key] = sums[key] + value if key in sums else value.astype(np.float64)
        progress.update(stop - start)
    means = {key: (value / n_frames).astype(np.float32) for key, value in sums.items()}
    return dict(shifts=shifts, peak_z=peak_z, no_structure=no_structure, corr_before=corr_before,
                corr_after=corr_after, patch_shifts=patch_shifts, means=means, movie_min=lowest)


def _border_pix(results: dict, border_nan: str | bool) -> int:
    """The seed's border: ceil of the largest |shift| (patch shifts for pw-rigid); 0 with border_nan='copy'."""
    if border_nan == "copy" and not isinstance(border_nan, bool):
        return 0
    largest = np.abs(results["shifts"]).max(initial=0.0)
    if results["patch_shifts"] is not None:
        largest = max(largest, float(np.abs(results["patch_shifts"]).max(initial=0.0)))
    return int(math.ceil(largest - 1e-6))


#: What the frame-block movie keeps of the corrected frames, by its sample type (``metrics.json``'s
#: ``blocks_precision``; docs/motion.md "Precision of the frame-block movie").
BLOCKS_PRECISION = {
    "float32": "float32: the corrected frames as computed",
    "float16": "float16: 11 significant bits, rounding error at most 1/16 of a grey level below 256",
    "uint8": "uint8: rounded to the nearest grey level (halves to even) and clipped to 0-255, "
             "rounding error at most 0.5 grey level (RMS 0.29)",
}


def _metrics(results, options: MotionOptions, border_pix, offset, template_source, frame_shape, elapsed, threads,
             movie_path) -> dict:
    from .. import __version__ as version  # noqa: PLC0415

    crop = max(options.max_shifts) + (options.max_deviation_rigid if options.pw_rigid else 0) + 2
    record = motion_metrics(
        input_path=movie_path, version=version, shifts=results["shifts"], corr_before=results["corr_before"],
        corr_after=results["corr_after"], means=results["means"], no_structure=results["no_structure"],
        max_shifts=options.max_shifts, crop=crop, registered=options.apply_motion_correction,
        pw_rigid=options.registers_patches, template_source=template_source, border_pix=border_pix, offset=offset,
        frame_shape=frame_shape, elapsed_s=elapsed, threads=threads,
    )
    record["params"] = _params_record(options)
    record["blocks_dtype"] = results["blocks_dtype"]
    record["blocks_precision"] = BLOCKS_PRECISION[results["blocks_dtype"]]
    record["correlation_before"] = np.round(results["corr_before"], 5).tolist()
    record["correlation_after"] = np.round(results["corr_after"], 5).tolist()
    return record


def _params_record(options: MotionOptions) -> dict[str, Any]:
    """Every motion parameter as used, in the declaration order (``metrics.json``'s ``params``)."""
    return dict(options.as_dict(), motion_engine="native")

