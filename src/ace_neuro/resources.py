"""What each rule needs, from the recording's size: memory, disk, run time and threads.

The figures come from measurements on 608x608 recordings on a 2-core, 24 GB
machine: peak RSS per rule at 1,500, 6,000 and 24,000 frames
(``benchmarks/long_session.md``; flat in length) and run-time rates from the
quiet-machine workflow benchmarks (``benchmarks/end_to_end_54000_session13.json``: e.g.
cnmfe 1,412 s and motion 264 s for 20.0 * 10**9 samples). They are upper bounds with a margin, for a scheduler's requests (the rules'
``resources:``) and for the preflight free-space check, which use these same
functions. Sizes are in MB (10**6 bytes, as Snakemake's ``mem_mb`` / ``disk_mb``),
run times in minutes.

Model (``N = frames x height x width`` samples, ``P = height x width`` pixels):

* **disk** (what the rule writes, kept or scratch): convert ``N x itemsize``
  (the TIFF); preprocess 0 (a link) or ``4 N`` (float32 TIFF when cropping,
  detrending or dF/F); motion ``N x blocks_itemsize`` (frame-block movie: 1 for an 8-bit movie by default) plus
  ``4 N`` with ``save_memmap`` (CaImAn's memory map); cnmfe the seeding replay
  caches, ``2 x 4 N / (tsub ssub^2)`` while seeding (none for a uint8 or float16
  movie or with ``seeding_cache: false``), outputs an estimates file (``~8 K T + 40 P`` bytes: ``C``, ``S``,
  ``YrA`` of ``K`` components, ``S`` and ``C`` gzip-compressed; the ring model) and two images; evaluate two
  estimates files (ours and CaImAn's layout); nwb ``~8 K T`` (three trace series, gzip); export the accepted
  components' traces as text and MATLAB; the other rules under 5 MB.
* **memory**: flat in the number of frames (every step streams in chunks): a
  per-rule base plus a per-pixel term (footprints, ring-model statistics,
  per-pixel accumulators), plus ``K x T`` traces for cnmfe (evaluate holds them only to re-fit a curation
  file's merges and splits).
* **run time**: linear in ``N`` (every pass streams the movie a fixed number
  of times), rate per rule measured with 2 threads on the shared machine,
  times 3 for a margin (a loaded machine ran 3-8x slower), plus a fixed start-up; at least 10 minutes.

:func:`estimate` gives all four for one rule; :func:`run_disk_mb` the peak disk
of a whole run (the preflight check's figure).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Union

import numpy as np

from ace_neuro.options import Options
from ace_neuro.motion.params import blocks_dtype_for
from ace_neuro.params import options_class

__all__ = ["STAGES", "PATCH_JOB_STAGES", "estimate", "expected_seconds", "run_disk_mb", "movie_mb"]

#: Rules with an estimate (the ones whose needs depend on the recording's size).
STAGES = ("convert", "projections", "preprocess", "motion", "cnmfe", "evaluate", "events", "spectral", "sync", "export",
          "nwb", "provenance")

#: The rules of ``cnmfe.patch_jobs`` (workflow/rules/cnmfe_patches.smk): one pass for the set-up, the cnmfe model
#: at the patch's size for each patch job (one thread each).
PATCH_JOB_STAGES = ("cnmfe_setup", "cnmfe_patch")

#: Margin on measured run times.
_TIME_MARGIN = 3.0
#: Shortest run time requested (minutes): a job's own start-up (Snakemake and the imports inside the job) took over
#: a minute on a busy node, and SLURM ends a job at its ``--time`` (make slurm-check's 1-minute jobs were TIMEOUT).
_MIN_RUNTIME_MIN = 10

# Seconds per 10**9 samples (frames x pixels) with 2 threads on a quiet machine and fixed seconds: the quiet
# 608x608 runs at 24,000 and 54,000 frames (end_to_end_24000_session12.json, end_to_end_54000_session13.json: e.g.
# cnmfe 1,412 s, motion 264 s, convert 262 s for 20.0 * 10**9 samples), rounded up; peak RSS base (MB) and MB per
# 1,000 pixels, chosen so that base + per-pixel term covers the RSS measured at 608x608 (0.37 Mpixel) at every
# length (long_session.md).
_SECONDS_PER_GSAMPLE = {
    "convert": 13.5, "projections": 5.0, "preprocess": 0.5, "motion": 13.5, "cnmfe": 75.0, "evaluate": 6.0,
    "events": 1.0, "spectral": 1.0, "sync": 0.5, "export": 1.0, "nwb": 1.0,
    "provenance": 1.0,
}
#: A ``cnmfe.patch_jobs`` patch job (one thread) per 10**9 samples of its patch (the patch mode's measurement, twice
#: the whole-field rate of its time, kept: benchmarks/long_session.md "Scale-out").
_PATCH_SECONDS_PER_GSAMPLE = 350.0
#: nwb with ``include_movie``: the float32 movie gzip-compressed into the file (~40 MB/s of input on one core).
_NWB_MOVIE_SECONDS_PER_GSAMPLE = 100.0
#: nwb with ``dandi``: the uint8 raw movie gzip-compressed into the file (benchmarks/nwb.md).
_NWB_RAW_SECONDS_PER_GSAMPLE = 45.0
_FIXED_SECONDS = {"motion": 20.0, "cnmfe": 30.0, "evaluate": 10.0}
_MEM_BASE_MB = {
    "convert": 250, "projections": 250, "preprocess": 300, "motion": 350, "cnmfe": 600, "evaluate": 450,
    "events": 300, "spectral": 250, "sync": 200, "export": 300, "nwb": 350,
    "provenance": 150,
}
_MEM_MB_PER_KPIXEL = {"convert": 0.6, "projections": 1.0, "preprocess": 1.0, "motion": 2.0, "cnmfe": 5.5, "evaluate": 2.0}
_THREADS = {"motion": 2, "cnmfe": 2}
#: Components assumed for the K x T traces when not given (a dense 608x608 field holds a few hundred).
_DEFAULT_COMPONENTS = 500


def movie_mb(n_frames: int, height: int, width: int, dtype="uint8") -> float:
    """Size of the movie at ``dtype`` in MB."""
    return int(n_frames) * int(height) * int(width) * np.dtype(dtype).itemsize / 1e6


def _check(stage: str, n_frames: int, height: int, width: int) -> None:
    if stage not in STAGES + PATCH_JOB_STAGES:
        raise ValueError(f"no resource estimate for stage {stage!r}; known: {', '.join(STAGES + PATCH_JOB_STAGES)}")
    if min(int(n_frames), int(height), int(width)) < 1:
        raise ValueError(f"recording size {n_frames} frames x {height} x {width} must be positive")


#: What :func:`estimate` and :func:`run_disk_mb` take as options: one stage's options object, or several
#: (``{stage: options}`` as :func:`ace_neuro.params.recording_parameters` gives them, or a sequence).
OptionsArg = Union[Options, Mapping[str, Options], Iterable[Options], None]


class _Recording:
    """The options of one recording by stage; a stage not given takes its defaults (its class's)."""

    def __init__(self, options: OptionsArg):
        if options is None:
            given: Iterable[Options] = ()
        elif isinstance(options, Options):
            given = (options,)
        elif isinstance(options, Mapping):
            given = options.values()
        else:
            given = options
        self._by_stage = {o.STAGE: o for o in given if o is not None and o.STAGE}

    def __getitem__(self, stage: str) -> Options:
        if stage not in self._by_stage:
            self._by_stage[stage] = options_class(stage)()
        return self._by_stage[stage]


def _blocks_dtype(dtype, options: _Recording) -> str:
    """The frame-block movie's sample type: ``motion.blocks_dtype`` for the motion step's input (the converted
    movie's ``dtype``, or float32 after a preprocess step that changes the values)."""
    movie_dtype = "float32" if options["preprocess"].changes_values else dtype
    return blocks_dtype_for(options["motion"].blocks_dtype, movie_dtype)


#: Bytes one estimates file holds per component and frame: ``C`` (gzip 0.59-0.71 of its float32), ``S`` (~0.11-0.13)
#: and ``YrA`` (plain), 6.7-6.8 bytes measured at 608x608 x 1,500 and 6,000 frames, with a margin
#: (benchmarks/long_session.md "Session 14: disk").
_ESTIMATES_BYTES_PER_KT = 8.0
#: ... and per pixel: the ring model ``W`` (~21 bytes at ``ssub_B`` 2, its indices compressed), ``b0``, ``sn``,
#: ``Cn``, ``pnr`` (~12): ~34 measured at 608x608, with a margin for a wider ring (a larger ``gSiz``).
_ESTIMATES_BYTES_PER_PIXEL = 40.0
#: Bytes the NWB file holds per component and frame: ``C``, ``C + YrA`` and ``S`` of every component, float32, gzip.
_NWB_BYTES_PER_KT = 8.0


def _estimates_file_mb(n_components: int, n_frames: int, pixels: int) -> float:
    """MB of one estimates file (ours or its CaImAn-layout copy) of ``n_components`` x ``n_frames``."""
    return (_ESTIMATES_BYTES_PER_KT * n_components * n_frames + _ESTIMATES_BYTES_PER_PIXEL * pixels) / 1e6


def _disk_mb(stage: str, n_frames: int, height: int, width: int, dtype, options: _Recording,
             n_components: int = _DEFAULT_COMPONENTS) -> float:
    samples = n_frames * height * width
    pixels = height * width
    if stage == "convert":
        return samples * np.dtype(dtype).itemsize / 1e6
    if stage == "preprocess":
        itemsize = 4 if options["preprocess"].changes_values else np.dtype(dtype).itemsize  # crop, banding: same dtype
        return 0.0 if options["preprocess"].does_nothing else itemsize * samples / 1e6
    if stage == "motion":
        motion = options["motion"]
        blocks = samples * np.dtype(_blocks_dtype(dtype, options)).itemsize
        caiman = 4 * samples if motion.save_memmap else 0
        return (blocks + caiman + 100 * pixels) / 1e6
    if stage == "cnmfe":
        cnmfe = options["cnmfe"]
        cached = cnmfe.seeding_cache and _blocks_dtype(dtype, options) == "float32"
        tsub = 1 if isinstance(cnmfe.tsub, str) else cnmfe.tsub  # auto: known with the frame rate; 1 bounds it
        caches = 2 * 4 * samples / (tsub * cnmfe.ssub**2) if cached else 0
        # estimates.h5, the correlation and peak-to-noise images (TIFF 4 bytes a pixel each) and the figures
        return caches / 1e6 + _estimates_file_mb(n_components, n_frames, pixels) + 8 * pixels / 1e6 + 10
    if stage == "evaluate":  # estimates.h5 and estimates_caiman.hdf5, the figures
        return 2 * _estimates_file_mb(n_components, n_frames, pixels) + 5
    if stage == "projections":
        return 8 * 4 * pixels / 1e6 + 5
    if stage == "export":  # two CSVs (~12 bytes a value) and the .mat (float32 C, raw, S) of the K x T traces
        return (2 * 12 + 3 * 4) * n_components * n_frames / 1e6 + 5.0
    if stage == "nwb":  # movies inside (gzip: at most float32 corrected, uint8 raw with dandi), traces and images
        nwb = options["nwb"]
        movies = (4 * samples if nwb.include_movie else 0) + (samples if nwb.dandi else 0)
        return (movies + _NWB_BYTES_PER_KT * n_components * n_frames + 16 * pixels) / 1e6 + 5.0
    return 5.0  # CSVs, figures, JSON: under 1 MB each at 6,000 frames of 608x608 (Session 14: disk)


def estimate(
    stage: str, n_frames: int, height: int, width: int, dtype="uint8", options: OptionsArg = None,
    n_components: int | None = None,
) -> dict:
    """Memory, disk, run time and threads one rule needs for a recording.

    Parameters
    ----------
    stage : str
        Rule name (:data:`STAGES`).
    n_frames, height, width : int
        Size of the recording (after cropping).
    dtype : numpy dtype
        Sample type of the converted movie (``uint8`` for the Miniscope V4).
    options : Options, mapping or sequence of Options, optional
        The recording's options (``save_memmap``, ``blocks_dtype``, ``tsub``,
        ``ssub``, ``crop``, ...): one stage's object, ``{stage: options}``
        or a sequence; a stage not given takes its class's defaults.
    n_components : int, optional
        Expected components (for the ``K x T`` traces cnmfe holds); default 500.

    Returns
    -------
    dict
        ``mem_mb`` (peak resident memory), ``disk_mb`` (written by the rule,
        kept or scratch), ``runtime`` (minutes), ``threads``; integers.

    Examples
    --------
    >>> r = estimate("motion", 6000, 608, 608)  # an 8-bit movie: writes the uint8 frame-block movie
    >>> r["threads"], round(r["disk_mb"] / (6000 * 608 * 608 / 1e6), 1)
    (2, 1.0)
    """
    _check(stage, n_frames, height, width)
    n_frames, height, width = int(n_frames), int(height), int(width)
    recording = _Recording(options)
    if stage in PATCH_JOB_STAGES:
        return _patch_job_estimate(stage, n_frames, height, width, recording)
    kpixels = height * width / 1000
    mem = _MEM_BASE_MB[stage] + _MEM_MB_PER_KPIXEL.get(stage, 0.2) * kpixels
    if stage == "cnmfe":  # evaluate, events, spectral and export read the traces a block at a time (flat)
        k = _DEFAULT_COMPONENTS if n_components is None else int(n_components)
        mem += 4 * 8 * k * n_frames / 1e6  # C, S, YrA and a work copy, float64
    seconds = expected_seconds(stage, n_frames, height, width, options=recording)
    return {
        "mem_mb": int(math.ceil(mem * 1.25)),
        "disk_mb": int(math.ceil(_disk_mb(stage, n_frames, height, width, dtype, recording,
                                          _DEFAULT_COMPONENTS if n_components is None else int(n_components)))),
        "runtime": max(_MIN_RUNTIME_MIN, int(math.ceil(seconds * _TIME_MARGIN / 60))),
        "threads": _THREADS.get(stage, 1),
    }


def _patch_job_estimate(stage: str, n_frames: int, height: int, width: int, recording: _Recording) -> dict:
    """:func:`estimate` of a ``cnmfe.patch_jobs`` rule: the set-up streams the movie once (``gSig: auto``); a patch
    job is the cnmfe model on one patch's pixels, with one thread and the patch's share of the components."""
    seconds = _patch_job_seconds(stage, n_frames, height, width, recording)
    if stage == "cnmfe_setup":
        mem = _MEM_BASE_MB["projections"] + _MEM_MB_PER_KPIXEL["projections"] * height * width / 1000
        disk = 1.0
    else:
        pixels = _patch_pixels(height, width, recording)
        k = max(50, math.ceil(_DEFAULT_COMPONENTS * pixels / (height * width)))
        mem = _MEM_BASE_MB["cnmfe"] + _MEM_MB_PER_KPIXEL["cnmfe"] * pixels / 1000 + 4 * 8 * k * n_frames / 1e6
        disk = (4 * k * n_frames + 20 * pixels) / 1e6 + 1.0
    return {"mem_mb": int(math.ceil(mem * 1.25)), "disk_mb": int(math.ceil(disk)),
            "runtime": max(_MIN_RUNTIME_MIN, int(math.ceil(seconds * _TIME_MARGIN / 60))), "threads": 1}


def _patch_pixels(height: int, width: int, recording: _Recording) -> int:
    """Pixels of one ``cnmfe.patch_jobs`` patch (``2 rf + 1`` a side, at most the frame)."""
    side = 2 * int(recording["cnmfe"].rf or max(height, width)) + 1
    return min(side, height) * min(side, width)


def _patch_job_seconds(stage: str, n_frames: int, height: int, width: int, recording: _Recording) -> float:
    """Run time of a ``cnmfe.patch_jobs`` rule: the set-up's one pass over the movie, or the cnmfe model on one
    patch's pixels with one thread (where the cnmfe rule's rate was measured with two)."""
    if stage == "cnmfe_setup":
        return _SECONDS_PER_GSAMPLE["projections"] * n_frames * height * width / 1e9 + 10.0
    pixels = _patch_pixels(height, width, recording)
    return _PATCH_SECONDS_PER_GSAMPLE * n_frames * pixels / 1e9 + _FIXED_SECONDS["cnmfe"]


def expected_seconds(stage: str, n_frames: int, height: int, width: int, options: OptionsArg = None) -> float:
    """Run time one rule is expected to take on a quiet 2-core machine, in seconds (no margin).

    The measured rate per sample plus a fixed start-up (the figures behind :func:`estimate`'s ``runtime``, which
    adds a 3x margin); :mod:`ace_neuro.run_progress` weighs each step's share of a recording's work with it.

    Examples
    --------
    >>> round(expected_seconds("cnmfe", 6000, 608, 608) / expected_seconds("motion", 6000, 608, 608), 1)
    3.9
    """
    _check(stage, n_frames, height, width)
    recording = options if isinstance(options, _Recording) else _Recording(options)
    if stage in PATCH_JOB_STAGES:
        return _patch_job_seconds(stage, int(n_frames), int(height), int(width), recording)
    samples = int(n_frames) * int(height) * int(width)
    rate = _SECONDS_PER_GSAMPLE[stage]
    if stage == "nwb":
        rate += (_NWB_MOVIE_SECONDS_PER_GSAMPLE if recording["nwb"].include_movie else 0.0) + (
            _NWB_RAW_SECONDS_PER_GSAMPLE if recording["nwb"].dandi else 0.0)
    return rate * samples / 1e9 + _FIXED_SECONDS.get(stage, 5.0)


def run_disk_mb(n_frames: int, height: int, width: int, dtype="uint8", options: OptionsArg = None,
                n_components: int | None = None) -> int:
    """Peak disk of one recording's whole run (MB): every kept output plus the largest scratch.

    With the defaults and an 8-bit movie this is the converted movie and the
    uint8 frame-block movie (``blocks_dtype: auto``; 2x the uint8 movie) plus the
    results (estimates files, NWB, exported traces: ``K x T``, and the images: per pixel;
    2.1x in all at 54,000 frames of 500 components; benchmarks/long_session.md "Session 15: uint8 blocks");
    CaImAn's memory map (``save_memmap``) and cnmfe's seeding
    caches while it seeds (``seeding_cache``, float32 blocks only, removed at
    its end) add theirs when asked for; ``blocks_dtype: float16`` doubles the
    block movie (3.1x with the results) and ``float32`` quadruples it (5.1x). The peak is at the run's end:
    the block movie stays (the curation page, the movies and tracking read it).

    Parameters
    ----------
    n_frames, height, width : int
        Size of the recording (after cropping).
    dtype : numpy dtype
        Sample type of the converted movie.
    options : Options, mapping or sequence of Options, optional
        The recording's options, as :func:`estimate` takes them.
    n_components : int, optional
        Expected components (for the ``K x T`` results); default 500.

    Examples
    --------
    >>> movie_mb = 54000 * 608 * 608 / 1e6  # 30 min at 30 Hz, uint8
    >>> round(run_disk_mb(54000, 608, 608) / movie_mb, 1)
    2.1
    >>> from ace_neuro.motion.params import MotionOptions
    >>> round(run_disk_mb(54000, 608, 608, options=MotionOptions(blocks_dtype="float32")) / movie_mb, 1)
    5.1
    """
    recording = _Recording(options)
    k = _DEFAULT_COMPONENTS if n_components is None else int(n_components)
    return int(math.ceil(sum(_disk_mb(s, n_frames, height, width, dtype, recording, k) for s in STAGES)))
