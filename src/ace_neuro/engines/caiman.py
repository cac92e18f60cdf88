"""The CaImAn engine: CaImAn's motion correction, CNMF-E and evaluation, written as our artefacts.

Three functions, one per workflow step, each taking the step's input and
output paths (the rule names every file) and our parameters (CaImAn's names):

* :func:`run_motion` - ``caiman.motion_correction.MotionCorrect`` (rigid or
  pw-rigid, high-pass ``gSig_filt`` for one-photon data), then
  ``caiman.save_memmap(..., order='C')``; the memory map is moved to the
  rule's ``memmap/`` folder under our (CaImAn's) name, and ``template.tif``,
  ``shifts.csv`` (same sign), ``patch_shifts.h5``, ``metrics.json``
  and both figures are written as our engine writes them.
* :func:`run_cnmfe` - ``CNMF`` in one-photon mode (``method_init='corr_pnr'``,
  ring model ``nb=0``, ``center_psf``, patches when ``rf`` is set) on that
  memory map; ``cnm.estimates`` is converted to our ``estimates.h5``
  (:func:`~ace_neuro.engines.caiman_results.estimates_from_caiman`) with the
  correlation / PNR images (CaImAn's ``correlation_pnr``) and contours.
* :func:`run_evaluate` - ``Estimates.evaluate_components`` on our
  ``estimates.h5`` (rebuilt as CaImAn's ``Estimates``), then the curation
  file, ``estimates.h5``, ``components.csv``, ``estimates_caiman.hdf5`` and
  ``traces.png`` through the same writers as our evaluate step.

CaImAn is imported inside these functions only. Memory is CaImAn's: its
``save_memmap`` and ``CNMF.fit`` hold the whole movie (or a patch's share of
it) in memory, so peak memory grows with the recording's length
(``docs/engines.md``), unlike our engine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import tifffile

from ..io.atomic import atomic_path
from ..io.frames import read_json_key
from ..io.memmap import find_corrected_movie, parse_blocks_name, write_caiman_from_blocks
from ..io.movie import caiman_memmap_name, open_movie
from ..cnmfe.params import CnmfeOptions, EvaluateOptions
from ..motion.metrics import motion_metrics
from ..motion.params import MotionOptions
from .caiman_params import (
    caiman_param_groups,
    caiman_snr_window,
    motion_kwargs,
    not_used_by_caiman,
    thresholds_for_evaluation,
    with_seeding_thresholds,
)
from .caiman_results import (
    border_from_shifts,
    estimates_from_caiman,
    motion_quality,
    patch_shift_grid,
)

__all__ = ["run_motion", "run_cnmfe", "run_evaluate", "MEMMAP_BASE"]

#: Base name of the corrected memory map (same as our engine's).
MEMMAP_BASE = "corrected"

_log = logging.getLogger(__name__)


def _import_caiman():
    try:
        import caiman  # noqa: PLC0415
    except ImportError as err:
        raise ImportError(
            f"engine: caiman needs CaImAn, which is not importable here ({err}). Run the workflow with "
            "`snakemake --sdm conda` (workflow/envs/caiman.yaml) or install CaImAn from conda-forge; "
            "or set engine: native"
        ) from err
    return caiman


@contextlib.contextmanager
def _caiman_temp(parent: Path) -> Iterator[Path]:
    """A scratch folder for CaImAn's intermediate memory maps (``CAIMAN_TEMP``), removed afterwards.

    Its name is fixed, so one left by a killed run (a signal skips the clean-up) is removed at the next start.
    """
    parent.mkdir(parents=True, exist_ok=True)
    # absolute: CaImAn puts a relative file name under CAIMAN_TEMP (a relative folder would be doubled)
    scratch = parent.resolve() / ".caiman-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    saved = os.environ.get("CAIMAN_TEMP")
    os.environ["CAIMAN_TEMP"] = os.fspath(scratch)
    try:
        yield scratch
    finally:
        if saved is None:
            os.environ.pop("CAIMAN_TEMP", None)
        else:
            os.environ["CAIMAN_TEMP"] = saved
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _cluster(caiman, n_processes: int) -> Iterator[Any]:
    """CaImAn's multiprocessing pool (``dview``) for ``n_processes > 1``, else ``None``."""
    if n_processes <= 1:
        yield None
        return
    _, dview, _ = caiman.cluster.setup_cluster(backend="multiprocessing", n_processes=int(n_processes))
    try:
        yield dview
    finally:
        caiman.stop_server(dview=dview)


# ----------------------------------------------------------------------------- motion


def _template_from_file(path: str, frame_shape: tuple[int, int], gSig_filt) -> np.ndarray:
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"motion.template_file {file}: file not found")
    image = np.load(file) if file.suffix == ".npy" else tifffile.imread(file)
    image = np.squeeze(np.asarray(image, dtype=np.float32))
    if image.shape != tuple(frame_shape):
        raise ValueError(f"motion.template_file {file}: image is {image.shape}, the movie's frames are {tuple(frame_shape)}")
    if gSig_filt is not None:
        from caiman.motion_correction import high_pass_filter_space  # noqa: PLC0415

        image = high_pass_filter_space(image, tuple(gSig_filt)).astype(np.float32)
    return image


@dataclass
class _Registration:
    """What CaImAn's registration gave: the movie files to map, the template and the shifts."""

    files: list[str]
    template: np.ndarray | None
    rigid: np.ndarray
    per_patch: np.ndarray | None = None
    grid: tuple[np.ndarray, np.ndarray] | None = None
    offset: float = 0.0
    template_source: str = "none (registration off)"


def _register(movie: Path, p: MotionOptions, kwargs: dict, frame_shape: tuple[int, int], n_frames: int,
              dview) -> _Registration:
    """``MotionCorrect`` (rigid or pw-rigid) on ``movie``; its registered files, template and shifts."""
    from caiman.motion_correction import MotionCorrect, get_patch_centers  # noqa: PLC0415

    if not p.apply_motion_correction:
        return _Registration(files=[os.fspath(movie.resolve())], template=None, rigid=np.zeros((n_frames, 2)))
    mc = MotionCorrect([os.fspath(movie.resolve())], dview=dview, **kwargs)
    given = _template_from_file(p.template_file, frame_shape, p.gSig_filt) if p.template_file else None
    mc.motion_correct(template=given, save_movie=True)
    per_patch = grid = None
    if p.pw_rigid:
        centres = get_patch_centers(frame_shape, overlaps=kwargs["overlaps"], strides=kwargs["strides"])
        grid = (np.asarray(centres[0], np.float64), np.asarray(centres[1], np.float64))
        per_patch = patch_shift_grid(mc.x_shifts_els, mc.y_shifts_els, (grid[0].size, grid[1].size))
    shifts_rig = getattr(mc, "shifts_rig", None)
    if shifts_rig is not None and len(shifts_rig):
        rigid = np.asarray(shifts_rig, np.float64)
    else:  # pw-rigid from a given template: CaImAn ran no rigid pass
        rigid = per_patch.mean(axis=(1, 2)).astype(np.float64)
    if rigid.shape != (n_frames, 2) or not np.all(np.isfinite(rigid)):
        raise ValueError(f"CaImAn's rigid shifts have shape {rigid.shape} or hold NaN / infinite values "
                         f"({n_frames} frames expected); the registration failed")
    return _Registration(
        files=list(mc.fname_tot_els if p.pw_rigid else mc.fname_tot_rig),
        template=np.asarray(mc.total_template_els if p.pw_rigid else mc.total_template_rig, np.float32),
        rigid=rigid, per_patch=per_patch, grid=grid,
        offset=float(-mc.min_mov) if p.nonneg_movie else 0.0, template_source=p.template_file or "data")


def _save_caiman_memmap(caiman, files: list[str], *, scratch: Path, memmap_dir: Path, frame_shape: tuple[int, int],
                        n_frames: int, border: int) -> Path:
    """``caiman.save_memmap(..., order='C')`` in ``scratch``, then moved (atomically) into ``memmap_dir``."""
    written = caiman.save_memmap(files, base_name=os.fspath(scratch / MEMMAP_BASE), order="C", border_to_0=border)
    expected = caiman_memmap_name(MEMMAP_BASE, frame_shape[0], frame_shape[1], n_frames)
    if Path(written).name != expected:
        raise RuntimeError(f"CaImAn wrote {Path(written).name}, expected {expected} (frames or size changed)")
    with atomic_path(memmap_dir) as tmp_dir:
        tmp_dir.mkdir(parents=True)
        os.replace(written, tmp_dir / expected)
    return memmap_dir / expected


def run_motion(
    movie: str | os.PathLike,
    *,
    memmap_dir: str | os.PathLike,
    template: str | os.PathLike,
    shifts: str | os.PathLike,
    patch_shifts: str | os.PathLike,
    metrics: str | os.PathLike,
    mean_png: str | os.PathLike,
    shifts_png: str | os.PathLike,
    options: MotionOptions | None = None,
    threads: int = 1,
    log: logging.Logger | None = None,
) -> dict:
    """Motion-correct ``movie`` with CaImAn and write our motion artefacts.

    Parameters
    ----------
    movie : path-like
        The preprocessed movie (T, H, W) (TIFF, as the preprocess step writes it).
    memmap_dir : path-like
        Folder to create, holding the corrected float32 C-order memory map
        ``corrected_d1_{H}_d2_{W}_d3_1_order_C_frames_{T}.mmap``.
    template, shifts, patch_shifts, metrics, mean_png, shifts_png : path-like
        ``template.tif`` (float32, high-passed when ``gSig_filt`` is set),
        ``shifts.csv``, ``patch_shifts.h5`` (per-patch shifts, an empty
        ``(T, 0, 0, 2)`` array for rigid registration), ``metrics.json``
        (with ``border_pix``) and the two figures.
    options : MotionOptions or mapping, optional
        Our motion options (CaImAn's names; the native engine's too); defaults when omitted.
    threads : int
        CaImAn worker processes (``dview``).
    log : logging.Logger, optional

    Returns
    -------
    dict
        ``metrics.json`` without the per-frame lists.
    """
    from ..motion.params import check_frame_shape, with_resolved_max_shifts  # noqa: PLC0415

    log = log or _log
    caiman = _import_caiman()
    started = time.perf_counter()
    movie = Path(movie)
    n_frames, height, width = (int(s) for s in open_movie(movie).shape)
    p = with_resolved_max_shifts(MotionOptions.from_params(options), (height, width), log)  # CaImAn gets the pair
    kwargs = motion_kwargs(p, (height, width))
    check_frame_shape((height, width), max_shifts=p.max_shifts, pw_rigid=p.pw_rigid,
                      apply_motion_correction=p.apply_motion_correction, strides=p.strides,
                      overlaps=p.overlaps, max_deviation_rigid=p.max_deviation_rigid)
    memmap_dir = Path(memmap_dir)
    not_used = not_used_by_caiman("motion", p)
    log.info("motion (CaImAn %s): %s, %d frames of %dx%d, %s, %d process(es)", caiman.__version__, movie, n_frames,
             height, width, "pw-rigid" if p.pw_rigid else "rigid", threads)
    if not_used:
        log.warning("motion (CaImAn): our own parameters without a CaImAn counterpart are not used (CaImAn writes "
                    "its float32 memory map): %s", ", ".join(not_used))
    with _caiman_temp(memmap_dir.parent) as scratch, _cluster(caiman, threads) as dview:
        reg = _register(movie, p, kwargs, (height, width), n_frames, dview)
        border = border_from_shifts(reg.rigid, reg.per_patch, p.border_nan)
        mmap_path = _save_caiman_memmap(caiman, reg.files, scratch=scratch, memmap_dir=memmap_dir,
                                        frame_shape=(height, width), n_frames=n_frames, border=border)
    log.info("motion: memory map %s written; border_pix %d", mmap_path, border)
    record = _write_caiman_motion(movie, mmap_path, reg, p, kwargs, border=border, threads=threads,
                                  version=str(caiman.__version__), started=started, not_used=not_used,
                                  outputs=dict(template=template, shifts=shifts, patch_shifts=patch_shifts,
                                               metrics=metrics, mean_png=mean_png, shifts_png=shifts_png))
    log.info("motion (CaImAn): done in %.1f s; correlation with template %.3f -> %.3f", record["elapsed_s"],
             record["correlation_before_mean"], record["correlation_after_mean"])
    return {k: v for k, v in record.items() if k not in ("correlation_before", "correlation_after")}


def _write_caiman_motion(movie: Path, mmap_path: Path, reg: _Registration, p: MotionOptions, kwargs: dict, *,
                         border: int, threads: int, version: str, started: float, not_used: list[str],
                         outputs: dict) -> dict:
    """Quality measures (the same as our engine's) and our motion files from CaImAn's registration."""
    from .. import __version__  # noqa: PLC0415
    from ..motion.outputs import MotionResult, write_motion_outputs  # noqa: PLC0415

    n_frames, height, width = (int(s) for s in open_movie(movie).shape)
    tmpl = reg.template if reg.template is not None else _mean_template(open_movie(movie), p.gSig_filt)
    crop = max(p.max_shifts) + (p.max_deviation_rigid if p.pw_rigid else 0) + 2
    quality = motion_quality(open_movie(movie), open_movie(mmap_path), tmpl, gSig_filt=p.gSig_filt, crop=crop)
    record = {"engine": "caiman", "caiman_version": version}
    record.update(motion_metrics(
        input_path=os.fspath(movie), version=__version__, shifts=reg.rigid, corr_before=quality["corr_before"],
        corr_after=quality["corr_after"], means=quality["means"], no_structure=np.zeros(n_frames, bool),
        max_shifts=p.max_shifts, crop=crop, registered=p.apply_motion_correction,
        pw_rigid=p.pw_rigid and p.apply_motion_correction, template_source=reg.template_source, border_pix=border,
        offset=reg.offset, frame_shape=(height, width), elapsed_s=time.perf_counter() - started, threads=threads,
    ))
    record["params"] = p.as_dict()
    record["caiman_motion_kwargs"] = kwargs
    record["not_used_by_caiman"] = not_used
    record["correlation_before"] = np.round(quality["corr_before"], 5).tolist()
    record["correlation_after"] = np.round(quality["corr_after"], 5).tolist()
    patch_size = None if reg.grid is None else tuple(kwargs["strides"][i] + kwargs["overlaps"][i] for i in range(2))
    result = MotionResult(template=tmpl, shifts=reg.rigid, corr_before=quality["corr_before"],
                          corr_after=quality["corr_after"], means=quality["means"], patch_shifts=reg.per_patch,
                          centres=reg.grid, patch_size=patch_size, engine="caiman")
    write_motion_outputs(result, outputs, record, highpassed=p.gSig_filt is not None)
    return record


def _mean_template(view: np.ndarray, gSig_filt) -> np.ndarray:
    """Mean of the (high-passed) first frames: the reference when registration is off."""
    from ..motion.filters import highpass_filter, highpass_kernel  # noqa: PLC0415

    frames = np.asarray(view[: min(view.shape[0], 400)], np.float32)
    if gSig_filt is not None:
        kernel = highpass_kernel(tuple(gSig_filt))
        frames = np.stack([highpass_filter(f, kernel) for f in frames])
    return frames.mean(axis=0)


#: Folder (under the step's output folder) of a CaImAn memory map made for CaImAn from our frame-block movie.
_MEMMAP_SCRATCH = ".caiman-memmap"


@contextlib.contextmanager
def _caiman_memmap(movie: str | os.PathLike, parent: Path, log: logging.Logger) -> Iterator[Path]:
    """CaImAn's memory map of the motion step's movie: its own, or one made from the frame-block file.

    The motion step writes CaImAn's map only with ``save_memmap``; without it, the
    block file is transposed into ``parent/.caiman-memmap/`` (a fixed name, so a
    killed run's copy is removed at the next start) and removed afterwards.
    """
    movie = Path(movie)
    if movie.suffix == ".mmap":
        yield movie
        return
    found = find_corrected_movie(movie) if movie.is_dir() else movie
    if found.suffix == ".mmap":
        yield found
        return
    scratch = parent.resolve() / _MEMMAP_SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        height, width, n_frames, _, _ = parse_blocks_name(found)
        mmap_path = scratch / caiman_memmap_name(MEMMAP_BASE, height, width, n_frames)
        log.info("CaImAn reads its own memory map: writing %s from %s (motion.save_memmap is false)", mmap_path, found)
        write_caiman_from_blocks(found, mmap_path)
        yield mmap_path
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ----------------------------------------------------------------------------- CNMF-E


def _load_images(caiman, mmap_path: Path):
    Yr, dims, n_frames = caiman.load_memmap(os.fspath(mmap_path))
    return np.reshape(Yr.T, [n_frames] + list(dims), order="F"), tuple(int(d) for d in dims), int(n_frames)


def run_cnmfe(
    memmap_dir: str | os.PathLike,
    *,
    estimates: str | os.PathLike,
    params_json: str | os.PathLike,
    correlation: str | os.PathLike,
    correlation_png: str | os.PathLike,
    pnr: str | os.PathLike,
    pnr_png: str | os.PathLike,
    contours: str | os.PathLike,
    options: CnmfeOptions | None = None,
    metadata: str | os.PathLike | None = None,
    motion_metrics: str | os.PathLike | None = None,
    threads: int = 1,
    log: logging.Logger | None = None,
):
    """Run CaImAn's CNMF (one-photon CNMF-E) on the motion step's memory map; write our cnmfe artefacts.

    Parameters
    ----------
    memmap_dir : path-like
        The motion step's ``memmap/`` folder (one CaImAn C-order memory map).
    estimates, params_json, correlation, correlation_png, pnr, pnr_png, contours : path-like
        ``estimates.h5`` (our layout), ``params.json`` (ours, the CaImAn
        groups used, ``caiman_decisions`` and ``not_used_by_caiman``), the
        correlation and peak-to-noise images (TIFF, PNG) and the contour figure.
    options : CnmfeOptions, optional
        Our cnmfe options (CaImAn's names; the native engine's too); defaults when omitted.
    metadata : path-like, optional
        The convert step's ``metadata.json`` (``frame_rate_hz``); needed unless ``fr`` is set.
    motion_metrics : path-like, optional
        The motion step's ``metrics.json`` (``border_pix``).
    threads : int
        CaImAn processes for patches.

    Returns
    -------
    Estimates
    """
    from ..cnmfe.outputs import write_cnmfe_outputs  # noqa: PLC0415  (the cnmfe step's one writer)

    log = log or _log
    caiman = _import_caiman()
    started = time.perf_counter()
    given = CnmfeOptions.from_params(options)
    frame_rate = given.fr if given.fr is not None else read_json_key(metadata, "frame_rate_hz")
    if frame_rate is None:
        raise ValueError(f"cnmfe: no frame rate: {metadata} has no 'frame_rate_hz'; set cnmfe.fr in the config")
    border = max(int(given.border_pix), int(read_json_key(motion_metrics, "border_pix") or 0))
    with _caiman_memmap(memmap_dir, Path(estimates).parent, log) as mmap_path:
        run = _prepare_cnmfe(given, mmap_path, frame_rate=float(frame_rate), border=border, threads=threads, log=log)
        images, dims, n_frames = _load_images(caiman, mmap_path)
        seeding = run.options.seeding
        log.info("cnmfe (CaImAn %s): %s, %d frames of %dx%d, gSig %s, gSiz %s, min_corr %g, min_pnr %g, rf=%s, "
                 "%d process(es)", caiman.__version__, mmap_path, n_frames, dims[0], dims[1], list(seeding.gSig),
                 list(seeding.gSiz), seeding.min_corr, seeding.min_pnr, run.options.rf, threads)
        cnm = _fit_cnmf(caiman, images, run.groups, patches=run.options.rf is not None, threads=threads)
        est, record = _estimates_and_record(caiman, cnm, images, run, dims=dims, frame_rate=float(frame_rate))
        outputs = dict(estimates=estimates, params=params_json, correlation=correlation,
                       correlation_png=correlation_png, pnr=pnr, pnr_png=pnr_png, contours=contours)
        write_cnmfe_outputs(est, outputs, params_record=record, images_by="CaImAn correlation_pnr")
    log.info("cnmfe (CaImAn): %d components in %.1f s", est.n_components, time.perf_counter() - started)
    return est


@dataclass
class _CnmfeRun:
    """What the CaImAn cnmfe step runs with: our options (every ``auto`` resolved), CaImAn's groups, the record."""

    options: CnmfeOptions
    groups: dict
    size: Any = None
    seeding: Any = None
    not_used: list[str] | None = None

    @property
    def decisions(self) -> list[str]:
        return [] if self.seeding is None else self.seeding.decisions()


def _prepare_cnmfe(given: CnmfeOptions, mmap_path: Path, *, frame_rate: float, border: int, threads: int,
                   log: logging.Logger) -> _CnmfeRun:
    """Our options with every ``auto`` replaced by what CaImAn runs with (each logged), and CaImAn's groups.

    ``tsub`` ``auto``: the frames of 0.1 s (:func:`ace_neuro.cnmfe.params.seeding_tsub`).
    ``gSig`` / ``gSiz`` ``auto``: measured on the movie as our engine measures
    them (:func:`ace_neuro.cnmfe.size.resolve_neuron_size`). ``min_corr`` /
    ``min_pnr`` ``auto``: calibrated as our engine calibrates them, on the
    images CaImAn seeds on (:func:`~ace_neuro.engines.caiman_seeding.calibrate_for_caiman`),
    each replacement a warning in the log and a line of ``caiman_decisions``.
    """
    from ..cnmfe.reader import MovieSource  # noqa: PLC0415
    from ..cnmfe.params import SEEDING_FRAME_S, resolve_tsub  # noqa: PLC0415
    from ..cnmfe.size import resolve_neuron_size  # noqa: PLC0415
    from .caiman_seeding import calibrate_for_caiman  # noqa: PLC0415

    source = MovieSource.from_path(mmap_path)
    p = resolve_tsub(given, frame_rate)
    if isinstance(given.tsub, str):
        log.info("cnmfe (CaImAn): tsub auto -> %d (the frames of %g s at %g Hz)", p.tsub, SEEDING_FRAME_S, frame_rate)
    p, size = resolve_neuron_size(source, p, border=border, log=log)
    if size is not None:
        log.info("cnmfe (CaImAn): gSig auto -> %s, gSiz %s (measured on the movie, as our engine does)",
                 list(p.seeding.gSig), list(p.seeding.gSiz))
    chunk = source.chunk_frames(float(p.cnmfe_chunk_mb))
    tsub = int(p.seeding.tsub)

    def chunks():
        for t0, t1 in source.chunks(chunk, tsub):
            yield source.read_frames(t0, t1)

    seeding = calibrate_for_caiman(chunks, p, border=border, threads=threads)
    run = _CnmfeRun(options=with_seeding_thresholds(p, seeding), groups={}, size=size, seeding=seeding,
                    not_used=not_used_by_caiman("cnmfe", given))
    if seeding is not None:
        log.info("cnmfe (CaImAn): seeding thresholds %s", seeding.as_dict())
    for decision in run.decisions:
        log.warning("cnmfe (CaImAn): %s", decision)
    run.groups, _ = caiman_param_groups(cnmfe=run.options, frame_rate=frame_rate, border_pix=border,
                                        n_processes=threads, fnames=[os.fspath(mmap_path)])
    if run.not_used:
        log.warning("cnmfe (CaImAn): our own parameters without a CaImAn counterpart are not used: %s",
                    ", ".join(run.not_used))
    return run


def _fit_cnmf(caiman, images: np.ndarray, groups: dict, *, patches: bool, threads: int):
    """CaImAn's ``CNMF(...).fit(images)`` with ``groups``, on a process pool when it runs patches."""
    from caiman.source_extraction.cnmf import cnmf  # noqa: PLC0415
    from caiman.source_extraction.cnmf.params import CNMFParams  # noqa: PLC0415

    opts = CNMFParams(params_dict=groups)
    with _cluster(caiman, threads if patches else 1) as dview:
        cnm = cnmf.CNMF(n_processes=max(1, int(threads)), dview=dview, params=opts)
        cnm.fit(images)
    return cnm


def _estimates_and_record(caiman, cnm, images: np.ndarray, run: _CnmfeRun, *, dims: tuple[int, int],
                          frame_rate: float):
    """Our ``Estimates`` of CaImAn's fit (with CaImAn's correlation / PNR images) and the ``params.json`` record."""
    from caiman.summary_images import correlation_pnr  # noqa: PLC0415

    step = max(images.shape[0] // 1000, 1)  # CaImAn's demo: the summary images from at most ~1000 frames
    Cn, pnr_image = correlation_pnr(images[::step], gSig=run.groups["init"]["gSig"][0], swap_dim=False)
    record = run.options.as_dict()
    record.update(engine="caiman", caiman_version=str(caiman.__version__), fr=frame_rate,
                  border_pix=run.groups["patch"]["border_pix"],
                  neuron_size=None if run.size is None else run.size.as_dict(), caiman_decisions=run.decisions,
                  seeding_thresholds=None if run.seeding is None else run.seeding.as_dict())
    est = estimates_from_caiman(cnm.estimates, dims=dims, frame_rate=frame_rate, ssub_B=run.options.ssub_B,
                                params=record, Cn=np.nan_to_num(Cn).astype(np.float32),
                                pnr=np.nan_to_num(pnr_image).astype(np.float32))
    return est, {"params": record, "caiman_params": run.groups, "not_used_by_caiman": run.not_used,
                 "caiman_decisions": run.decisions}


# ----------------------------------------------------------------------------- evaluate


def _caiman_estimates(est):
    """CaImAn's ``Estimates`` holding our footprints, traces and background (what evaluation reads)."""
    from caiman.source_extraction.cnmf.estimates import Estimates as CaimanEstimates  # noqa: PLC0415

    out = CaimanEstimates(A=est.A, b=est.b, C=est.C, f=est.f, R=est.YrA, dims=est.dims)
    out.YrA = est.YrA
    out.S = est.S
    out.b0 = est.b0
    out.W = est.W
    return out


def run_evaluate(
    estimates_in: str | os.PathLike,
    movie: str | os.PathLike,
    *,
    estimates_out: str | os.PathLike,
    components_csv: str | os.PathLike,
    caiman_out: str | os.PathLike,
    traces_png: str | os.PathLike | None = None,
    options: EvaluateOptions | None = None,
    curation_file: str | os.PathLike | None = None,
    log: logging.Logger | None = None,
):
    """CaImAn's ``evaluate_components`` on our cnmfe estimates, then curation and our evaluate artefacts.

    Parameters
    ----------
    estimates_in : path-like
        ``cnmfe/estimates.h5`` (either engine's).
    movie : path-like
        The motion step's memory map or its folder.
    estimates_out, components_csv, caiman_out, traces_png : path-like
        As our evaluate step writes them.
    options : EvaluateOptions, optional
        Our evaluate options (``min_SNR``, ``rval_thr``, ``SNR_lowest``,
        ``rval_lowest``; ``use_cnn`` is false); defaults when omitted.
    curation_file : path-like, optional
        Manual decisions, applied after CaImAn's.

    Returns
    -------
    Estimates
    """
    from ..cnmfe.estimates_file import load_estimates, recorded_options  # noqa: PLC0415
    from ..cnmfe.outputs import write_evaluate_outputs  # noqa: PLC0415  (the evaluate step's one writer)

    log = log or _log
    caiman = _import_caiman()
    from caiman.source_extraction.cnmf.params import CNMFParams  # noqa: PLC0415

    est = load_estimates(estimates_in)
    movie = Path(movie)
    with _caiman_memmap(movie, Path(estimates_out).parent, log) as mmap_path:
        cnmfe_options = recorded_options(est, CnmfeOptions, path=estimates_in)
        if isinstance(cnmfe_options.seeding.gSig, str):
            raise ValueError(f"{estimates_in} records gSig 'auto', not the value its cnmfe step used; re-run cnmfe")
        cnmfe_options = thresholds_for_evaluation(cnmfe_options)  # seeding thresholds: not read by evaluation
        options = EvaluateOptions.from_params(options)
        groups, _ = caiman_param_groups(cnmfe=cnmfe_options, evaluate=options, frame_rate=est.frame_rate)
        not_used = not_used_by_caiman("evaluate", options)
        if not_used:
            log.warning("evaluate (CaImAn): our own parameters without a CaImAn counterpart are not used (CaImAn's "
                        "evaluate_components decides alone): %s", ", ".join(not_used))
        snr_window = caiman_snr_window(options, cnmfe_options.temporal.decay_time, est.frame_rate)
        if snr_window["warning"]:
            log.warning("evaluate (CaImAn): %s", snr_window["warning"])
        images, dims, n_frames = _load_images(caiman, mmap_path)
        if dims != est.dims or n_frames != est.n_frames:
            raise ValueError(f"{mmap_path}: movie is {n_frames} frames of {dims}, the estimates {estimates_in} "
                             f"{est.n_frames} of {est.dims}; re-run cnmfe on this movie")
        log.info("evaluate (CaImAn %s): %d components of %s", caiman.__version__, est.n_components, estimates_in)
        if est.n_components:
            ce = _caiman_estimates(est)
            ce.evaluate_components(images, CNMFParams(params_dict=groups))
            evaluated = est.replace(
                idx_components=np.asarray(ce.idx_components, np.int64),
                idx_components_bad=np.asarray(ce.idx_components_bad, np.int64),
                SNR_comp=np.nan_to_num(np.asarray(ce.SNR_comp, np.float64), nan=0.0),
                r_values=np.nan_to_num(np.asarray(ce.r_values, np.float64), nan=-1.0),
                params={**est.params, "evaluate": {**groups["quality"], "engine": "caiman",
                                                   "not_used_by_caiman": not_used, "snr_window": snr_window}},
            )
        else:
            empty = np.zeros(0, np.int64)
            evaluated = est.replace(idx_components=empty, idx_components_bad=empty, SNR_comp=np.zeros(0),
                                    r_values=np.zeros(0))
        evaluated = write_evaluate_outputs(
            evaluated, estimates_out=estimates_out, components_csv=components_csv, caiman_out=caiman_out,
            mmap_file=None if mmap_path.parent.name == _MEMMAP_SCRATCH else mmap_path.resolve(),
            curation_file=curation_file, traces_png=traces_png)
        log.info("evaluate (CaImAn): %d accepted, %d rejected", evaluated.idx_components.size,
                 evaluated.idx_components_bad.size)
        return evaluated
