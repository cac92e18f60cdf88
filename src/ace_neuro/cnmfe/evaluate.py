"""Component evaluation: trace SNR, spatial r-value, accept / reject, manual curation.

Each component found by CNMF-E gets two quality metrics, as CaImAn's
``Estimates.evaluate_components`` computes them for the seed:

* **SNR** (``SNR_comp``) from the *exceptionality* of its raw trace
  ``C + YrA``: after removing a slow baseline (8th percentile in bins), the
  noise is estimated from the values below the trace's mode (half-sample
  mode), and the log-probability of the most unlikely run of ``N``
  consecutive samples under that Gaussian noise is turned back into a z
  value: ``SNR = -Phi^-1(exp(fitness / N))`` with ``N = ceil(fr *
  decay_time)``. As in CaImAn the z values are measured in units of three
  noise standard deviations, so CaImAn's thresholds (``min_SNR``) carry over.
* **r-value** (``r_values``): Pearson correlation, over the footprint's
  pixels, between the footprint and the movie averaged over the frames around
  the component's largest peaks (``Npeaks`` peaks of ``C``, a window of
  ``-tB..tA`` frames around each). Unlike CaImAn, which averages the raw
  movie and drops frames where overlapping neighbours are active, the movie
  here is first cleaned of the background model (``b0`` + ring model) and of
  every *other* component, which is what a one-photon movie needs (its
  background dwarfs the neurons).

A component is accepted with CaImAn's rule (``select_components_from_metrics``
without CNN): it must pass at least one upper threshold (``SNR > min_SNR`` or
``r >= rval_thr``) and both lower ones (``SNR > SNR_lowest`` and
``r > rval_lowest``). Manual decisions from a curation file are applied last.

Streaming: only the frames used by some component's r-value are read, once,
in groups sized by a memory budget.

References
----------
Giovannucci A. et al. (2019) CaImAn an open source tool for scalable calcium
imaging data analysis. eLife 8:e38173 (component evaluation).
Bickel D.R., Fruehwirth R. (2006) On a fast, robust estimator of the mode.
Computational Statistics & Data Analysis 50:3500-3530 (half-sample mode).
"""

from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import scipy.signal
import scipy.special

from ace_neuro.io.caiman import export_caiman_hdf5
from ace_neuro.cnmfe.estimates import (
    Estimates,
    decimation_matrix,
    load_estimates,
    save_estimates,
)
from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.movie import release_pages
from ace_neuro.params import stage_parameters
from ace_neuro.progress import Progress

__all__ = [
    "CurationError",
    "trace_snr",
    "peak_frames",
    "spatial_r_values",
    "classify_components",
    "evaluate_components",
    "read_curation_file",
    "apply_curation",
    "components_table",
    "run_evaluate_step",
]

logger = logging.getLogger(__name__)

#: CaImAn's z values are in units of this many noise standard deviations.
_SIGMA_FACTOR = 3.0
#: Peaks lower than this fraction of the trace's range are not used (CaImAn ``thresh_C``).
_PEAK_FRACTION = 0.3


class CurationError(ValueError):
    """A curation file that cannot be applied."""


# --------------------------------------------------------------------------- SNR


def _half_sample_mode(sorted_values: np.ndarray) -> float:
    """Half-sample mode of one sorted 1-D array (Bickel & Fruehwirth 2006)."""
    data = sorted_values
    while data.size > 3:
        half = data.size // 2 + data.size % 2
        widths = data[half - 1 :] - data[: data.size - half + 1]
        start = int(np.argmin(widths))
        data = data[start : start + half]
    if data.size == 3:
        left, right = data[1] - data[0], data[2] - data[1]
        if left < right:
            return float(data[:2].mean())
        if right < left:
            return float(data[1:].mean())
        return float(data[1])
    return float(data.mean())


def _remove_slow_baseline(traces: np.ndarray) -> np.ndarray:
    """Subtract the 8th percentile of consecutive bins (``min(T // 5, 800)`` frames), interpolated."""
    n_frames = traces.shape[1]
    bin_len = min(n_frames // 5, 800)
    if bin_len < 2:
        return traces - np.percentile(traces, 8, axis=1, keepdims=True)
    n_bins = int(math.ceil(n_frames / bin_len))
    centers = np.empty(n_bins)
    levels = np.empty((traces.shape[0], n_bins))
    for i in range(n_bins):
        lo, hi = i * bin_len, min((i + 1) * bin_len, n_frames)
        centers[i] = (lo + hi - 1) / 2.0
        levels[:, i] = np.percentile(traces[:, lo:hi], 8, axis=1)
    t = np.arange(n_frames)
    baseline = np.stack([np.interp(t, centers, row) for row in levels]) if traces.shape[0] else levels[:, :0]
    return traces - baseline


def trace_snr(traces: np.ndarray, frame_rate: float, decay_time: float) -> np.ndarray:
    """CaImAn's trace SNR (event exceptionality) of each trace.

    Parameters
    ----------
    traces : ndarray, shape (K, T)
        Raw traces, ``C + YrA``.
    frame_rate : float
        Frames per second (Hz).
    decay_time : float
        Typical transient decay time in seconds; events are judged over
        ``N = ceil(frame_rate * decay_time)`` consecutive frames.

    Returns
    -------
    ndarray of float64, shape (K,)
        SNR in CaImAn's units (z of the least likely ``N``-frame run, noise
        scaled by 3); 0 for a constant trace.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(size=(1, 3000))
    >>> spiky = noise.copy(); spiky[0, 1000:1010] += 30
    >>> snr = trace_snr(np.vstack([noise, spiky]), 30.0, 0.3)
    >>> bool(snr[0] < 1.5), bool(snr[1] > 5)
    (True, True)
    """
    traces = np.asarray(traces)
    if traces.ndim != 2:
        raise ValueError(f"traces must have shape (K, T), got {traces.shape}")
    if not frame_rate > 0 or not decay_time > 0:
        raise ValueError(f"frame_rate and decay_time must be > 0, got {frame_rate} and {decay_time}")
    n_comp, n_frames = traces.shape
    if n_comp == 0:
        return np.zeros(0)
    if n_frames < 2:
        raise ValueError(f"traces need at least 2 frames to estimate noise, got {n_frames}")
    window = int(min(max(1, math.ceil(frame_rate * decay_time)), n_frames))
    snr = np.zeros(n_comp)
    kernel = np.ones(window)
    block = 64  # traces converted to float64 at a time
    for k in range(n_comp):
        if k % block == 0:
            detrended = _remove_slow_baseline(np.asarray(traces[k : k + block], dtype=np.float64))
        x = detrended[k % block]
        if not np.all(np.isfinite(x)):
            raise ValueError(
                f"trace {k} holds NaN or infinite values; the estimates are corrupt, re-run the cnmfe step"
            )
        mode = _half_sample_mode(np.sort(x))
        below = (mode - x)[x < mode]
        if below.size == 0:
            continue
        sd = math.sqrt(float(np.mean(below**2)))
        if sd <= 0:
            continue
        z = (x - mode) / (_SIGMA_FACTOR * sd)
        log_tail = scipy.special.log_ndtr(-z)
        fitness = float(np.min(np.convolve(log_tail, kernel, mode="valid")))
        value = -scipy.special.ndtri_exp(fitness / window)
        snr[k] = value if np.isfinite(value) else 0.0
    return snr


# --------------------------------------------------------------------------- r-values


def _peak_window(frame_rate: float) -> tuple[int, int]:
    """Frames before (``tB`` < 0) and after (``tA``) each peak, CaImAn's choice for a frame rate."""
    before = int(min(-2, math.floor(-5.0 / 30.0 * frame_rate)))
    after = int(max(5, math.ceil(25.0 / 30.0 * frame_rate)))
    return before, after


def peak_frames(C: np.ndarray, frame_rate: float, Npeaks: int = 10) -> list[np.ndarray]:
    """Frames around the largest peaks of each denoised trace.

    Peaks are local maxima of ``C[k]`` at least 30 % of the way from its
    minimum to its maximum; the ``Npeaks`` highest are kept and each
    contributes frames ``peak + tB .. peak + tA - 1`` (``tB = min(-2,
    floor(-5/30 fr))``, ``tA = max(5, ceil(25/30 fr))``, CaImAn's window),
    clipped to the recording.

    Parameters
    ----------
    C : ndarray, shape (K, T)
    frame_rate : float
        Hz.
    Npeaks : int

    Returns
    -------
    list of K int64 arrays
        Sorted unique frame indices per component, at most
        ``Npeaks * (tA - tB)`` each; empty for a flat trace.
    """
    C = np.asarray(C, dtype=np.float64)
    if C.ndim != 2:
        raise ValueError(f"C must have shape (K, T), got {C.shape}")
    if int(Npeaks) < 1:
        raise ValueError(f"Npeaks must be >= 1, got {Npeaks}")
    before, after = _peak_window(frame_rate)
    offsets = np.arange(before, after)
    n_frames = C.shape[1]
    out = []
    for trace in C:
        low, high = float(np.min(trace)) if trace.size else 0.0, float(np.max(trace)) if trace.size else 0.0
        if not high > low:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        peaks, _ = scipy.signal.find_peaks(trace, height=low + _PEAK_FRACTION * (high - low))
        if peaks.size == 0:  # monotonic trace: its maximum is the only event
            peaks = np.array([int(np.argmax(trace))])
        peaks = peaks[np.argsort(trace[peaks], kind="stable")[::-1][: int(Npeaks)]]
        frames = np.clip((peaks[:, None] + offsets[None, :]).ravel(), 0, n_frames - 1)
        out.append(np.unique(frames).astype(np.int64))
    return out


def _ring_halo_columns(estimates: Estimates) -> int:
    """Full-resolution columns a ring-model row reaches beyond its own block column (multiple of ``ssub_B``)."""
    if estimates.W is None or estimates.W.nnz == 0:
        return 0
    hb = (estimates.dims[0] - 1) // estimates.ssub_B + 1
    coo = estimates.W.tocoo()
    reach = int(np.max(np.abs(coo.row // hb - coo.col // hb)))
    return reach * estimates.ssub_B


def spatial_r_values(
    estimates: Estimates,
    movie: np.ndarray,
    frames_per_component: Sequence[np.ndarray],
    *,
    chunk_mb: float = 128.0,
) -> np.ndarray:
    """Correlation of each footprint with the cleaned movie averaged over its active frames.

    For component ``i`` with frames ``L_i`` the image
    ``m_i = mean_{t in L_i} (Y_t - B_t - sum_{j != i} a_j c_j(t))`` (movie minus
    background minus the other components) is correlated with ``a_i`` over
    the pixels where ``a_i > 0``.

    The movie is read in tiles: bands of image columns (each pixel's time
    series is contiguous in a CaImAn C-order memory map, and a band of columns
    is a contiguous range of pixels), widened by the reach of the ring model,
    times groups of the needed frames. Tiles are sized by ``chunk_mb``; memory
    does not depend on the recording's length or size.

    Parameters
    ----------
    estimates : Estimates
        ``A``, ``C`` and the background model (``b0``, ``W``, ``b``, ``f``).
    movie : array-like, shape (T, H, W)
        The movie CNMF-E was run on (e.g. :func:`ace_neuro.io.movie.open_movie`
        of the motion-corrected memory map); read only at the needed frames.
    frames_per_component : sequence of K int arrays
        Frames to average for each component (:func:`peak_frames`).
    chunk_mb : float
        Memory budget of one tile (MB).

    Returns
    -------
    ndarray of float64, shape (K,)
        r-values; 0 for a component with no frames, fewer than 3 pixels, or a
        constant footprint.
    """
    n_comp = estimates.n_components
    if len(frames_per_component) != n_comp:
        raise ValueError(f"frames_per_component has {len(frames_per_component)} entries for {n_comp} components")
    n_frames, height, width = (int(s) for s in movie.shape)
    if (height, width) != estimates.dims or n_frames != estimates.n_frames:
        raise ValueError(
            f"movie has shape {(n_frames, height, width)} but the estimates are {estimates.dims} "
            f"with {estimates.n_frames} frames; evaluate with the movie CNMF-E ran on"
        )
    if not chunk_mb > 0:
        raise ValueError(f"chunk_mb must be > 0, got {chunk_mb}")
    r_values = np.zeros(n_comp)
    if n_comp == 0:
        return r_values
    A = estimates.A
    pixels = [A.indices[A.indptr[k] : A.indptr[k + 1]] for k in range(n_comp)]
    weights = [A.data[A.indptr[k] : A.indptr[k + 1]].astype(np.float64) for k in range(n_comp)]
    frames_k = [np.unique(np.asarray(f, dtype=np.int64).reshape(-1)) for f in frames_per_component]
    usable = []
    for k in range(n_comp):
        if np.count_nonzero(weights[k] > 0) < 3:
            logger.warning("component %d has fewer than 3 pixels: r-value set to 0", k)
        elif frames_k[k].size:
            usable.append(k)
    if not usable:
        return r_values
    needed = np.unique(np.concatenate([frames_k[k] for k in usable]))
    if needed[0] < 0 or needed[-1] >= n_frames:
        raise ValueError(f"frames_per_component index frames outside 0..{n_frames - 1}")
    member = {k: np.isin(needed, frames_k[k]) for k in usable}
    sums = {k: np.zeros(pixels[k].size) for k in usable}
    # first and last image column of each usable component, to visit only the bands it touches
    col_lo = {k: int(pixels[k][0] // height) for k in usable}
    col_hi = {k: int(pixels[k][-1] // height) for k in usable}

    ring = estimates.W is not None
    step = estimates.ssub_B if ring else 1
    halo = _ring_halo_columns(estimates)
    core_width = max(4 * halo, 16, step)
    core_width = min(-(-core_width // step) * step, -(-width // step) * step)
    A_rows = A.tocsr()
    cube = movie.transpose(2, 1, 0)  # (W, H, T): pixel-major, as the memory map is laid out
    hb = (height - 1) // step + 1
    progress = Progress(needed.size * (-(-width // core_width)), "evaluate r-values", logger)
    for c0 in range(0, width, core_width):
        c1 = min(c0 + core_width, width)
        e0, e1 = max(0, c0 - halo), min(width, c1 + halo)
        ext = slice(e0 * height, e1 * height)
        core = slice((c0 - e0) * height, (c1 - e0) * height)
        in_band = [k for k in usable if col_hi[k] >= c0 and col_lo[k] < c1]
        if not in_band:
            progress.update(needed.size)
            continue
        A_ext = A_rows[ext]
        b0_ext = estimates.b0[ext][:, None]
        if ring:
            down = decimation_matrix((height, e1 - e0), step)
            low_ext = slice((e0 // step) * hb, (-(-e1 // step)) * hb)
            low_core = slice((c0 // step) * hb, (-(-c1 // step)) * hb)
            W_band = estimates.W[low_core][:, low_ext]
            up = (decimation_matrix((height, c1 - c0), step) > 0).T.astype(np.float32).tocsr()
        group = max(1, int(chunk_mb * 2**20 // ((e1 - e0) * height * 4 * 4)))
        for g0 in range(0, needed.size, group):
            frames = needed[g0 : g0 + group]
            Y = np.asarray(cube[e0:e1, :, frames], dtype=np.float32).reshape((e1 - e0) * height, frames.size)
            residual = Y - np.asarray(A_ext @ estimates.C[:, frames], dtype=np.float32)
            residual -= b0_ext
            clean = residual[core]
            if ring:
                clean = clean - up @ (W_band @ (down @ residual))
            if estimates.nb:
                clean = clean - estimates.b[ext][core] @ estimates.f[:, frames]
            # `clean` = movie - background - all components, core pixels of the band, these frames
            first = c0 * height
            for k in in_band:
                cols = np.flatnonzero(member[k][g0 : g0 + group])
                if cols.size == 0:
                    continue
                lo, hi = np.searchsorted(pixels[k], [first, c1 * height])
                if hi > lo:
                    sums[k][lo:hi] += clean[np.ix_(pixels[k][lo:hi] - first, cols)].sum(axis=1)
            release_pages(movie)
            progress.update(frames.size)
    for k in usable:
        # add back the component's own activity: movie - background - the *other* components
        mean_image = (sums[k] + weights[k] * float(estimates.C[k, frames_k[k]].sum())) / frames_k[k].size
        keep = weights[k] > 0
        a, m = weights[k][keep], mean_image[keep]
        if np.ptp(a) == 0 or np.ptp(m) == 0:
            r_values[k] = 0.0
            continue
        r_values[k] = float(np.corrcoef(a, m)[0, 1])
    return r_values


# --------------------------------------------------------------------------- decisions


def classify_components(
    SNR_comp: np.ndarray,
    r_values: np.ndarray,
    *,
    min_SNR: float = 3.0,
    rval_thr: float = 0.85,
    SNR_lowest: float = 0.5,
    rval_lowest: float = -1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """CaImAn's accept rule: one upper threshold passed and no lower threshold failed.

    Accepted iff ``(SNR > min_SNR or r >= rval_thr) and SNR > SNR_lowest and
    r > rval_lowest``.

    Returns
    -------
    idx_components, idx_components_bad : ndarray of int64
        Accepted and rejected component indices, sorted.
    """
    snr = np.asarray(SNR_comp, dtype=np.float64).reshape(-1)
    r = np.asarray(r_values, dtype=np.float64).reshape(-1)
    if snr.shape != r.shape:
        raise ValueError(f"SNR_comp has {snr.size} values but r_values has {r.size}")
    good = ((snr > min_SNR) | (r >= rval_thr)) & (snr > SNR_lowest) & (r > rval_lowest)
    return np.flatnonzero(good).astype(np.int64), np.flatnonzero(~good).astype(np.int64)


def _check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return dict(stage_parameters("evaluate", params))


def evaluate_components(
    estimates: Estimates,
    movie: np.ndarray,
    params: Mapping[str, Any] | None = None,
    *,
    decay_time: float | None = None,
) -> Estimates:
    """Compute SNR and r-values and split the components into accepted and rejected.

    Parameters
    ----------
    estimates : Estimates
        CNMF-E result (``C``, ``YrA``, ``A``, background).
    movie : array-like, shape (T, H, W)
        The movie CNMF-E ran on (a memory map; only peak frames are read).
    params : mapping, optional
        Evaluate parameters (:mod:`ace_neuro.stages.evaluate`); defaults for missing keys.
    decay_time : float, optional
        Transient decay time (s); default ``estimates.params['decay_time']``
        (the cnmfe parameter), else CaImAn's 0.4 s.

    Returns
    -------
    Estimates
        A copy with ``SNR_comp``, ``r_values``, ``idx_components`` and
        ``idx_components_bad`` set and the evaluate parameters added to
        ``params``.
    """
    p = _check_params(params or {})
    if decay_time is None:
        decay_time = estimates.params.get("decay_time") or 0.4
    decay_time = float(decay_time)
    n_comp = estimates.n_components
    if n_comp:
        snr = trace_snr(estimates.C + estimates.YrA, estimates.frame_rate, decay_time)
        frames = peak_frames(estimates.C, estimates.frame_rate, p["Npeaks"])
        r_values = spatial_r_values(estimates, movie, frames, chunk_mb=p["evaluate_chunk_mb"])
    else:
        snr = np.zeros(0)
        r_values = np.zeros(0)
    good, bad = classify_components(
        snr, r_values, min_SNR=p["min_SNR"], rval_thr=p["rval_thr"],
        SNR_lowest=p["SNR_lowest"], rval_lowest=p["rval_lowest"],
    )
    vessel_edge = np.zeros(0, np.int64)
    if p["reject_vessel_edges"] and n_comp:
        from ace_neuro.cnmfe.vessels import find_vessel_edge_components

        vessel_edge = np.flatnonzero(find_vessel_edge_components(estimates))
        good, bad = np.setdiff1d(good, vessel_edge), np.union1d(bad, vessel_edge)
        logger.info("evaluate: %d components rejected on vessel borders", vessel_edge.size)
    logger.info("evaluate: %d of %d components accepted", good.size, n_comp)
    merged = dict(estimates.params)
    merged.update(p)
    merged["vessel_edge_components"] = vessel_edge.tolist()
    merged.setdefault("decay_time", decay_time)
    return estimates.replace(
        SNR_comp=snr, r_values=r_values, idx_components=good, idx_components_bad=bad, params=merged
    )


# --------------------------------------------------------------------------- curation


def _parse_component(value: Any, n_comp: int, where: str) -> int:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise CurationError(f"{where}: component {value!r} is not a component number") from None
    if not number.is_integer():
        raise CurationError(f"{where}: component {value!r} is not a whole number")
    k = int(number)
    if not 0 <= k < n_comp:
        if n_comp == 0:
            raise CurationError(f"{where}: component {k} does not exist (no components were found)")
        raise CurationError(
            f"{where}: component {k} does not exist; ids run from 0 to {n_comp - 1} "
            "(the 'id' column of components.csv)"
        )
    return k


def read_curation_file(path: str | os.PathLike, n_components: int) -> dict[int, bool]:
    """Read manual decisions: ``{component: accepted}``.

    Two formats, by suffix:

    * CSV (``.csv``): header ``component,decision``; one row per component;
      ``decision`` is ``accept`` or ``reject`` (case-insensitive).
    * YAML (``.yaml``/``.yml``): ``accept: [ids]`` and/or ``reject: [ids]``.

    Component ids are the 0-based ``id`` of ``components.csv``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    CurationError
        For an unknown format, missing columns, an unknown component, a bad
        decision, or a component given two different decisions; the message
        names the file and the row (CSV line number) or key.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: curation file not found (named in the sample sheet's 'curation file' column)")
    decisions: dict[int, bool] = {}
    origin: dict[int, str] = {}

    def record(k: int, accept: bool, where: str) -> None:
        if k in decisions and decisions[k] != accept:
            before = "accepted" if decisions[k] else "rejected"
            raise CurationError(f"{where}: component {k} is also {before} at {origin[k]}")
        decisions[k] = accept
        origin[k] = where

    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
            if "component" not in fields or "decision" not in fields:
                raise CurationError(
                    f"{path}: a curation CSV needs the header 'component,decision', got {reader.fieldnames}"
                )
            for row in reader:
                row = {(k or "").strip().lower(): v for k, v in row.items()}
                where = f"{path}, line {reader.line_num}"
                if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                    continue  # blank line
                decision = (row.get("decision") or "").strip().lower()
                if decision not in ("accept", "reject"):
                    raise CurationError(f"{where}: decision {row.get('decision')!r} must be 'accept' or 'reject'")
                record(_parse_component(row.get("component"), n_components, where), decision == "accept", where)
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise CurationError(f"{path}: not valid YAML ({err})") from err
        content = content or {}
        if not isinstance(content, dict):
            raise CurationError(f"{path}: expected a mapping with keys 'accept' and/or 'reject'")
        unknown = set(content) - {"accept", "reject"}
        if unknown:
            raise CurationError(f"{path}: unknown key(s) {sorted(map(str, unknown))}; use 'accept' and 'reject'")
        for key in ("accept", "reject"):
            values = content.get(key) or []
            if not isinstance(values, list):
                values = [values]
            for i, value in enumerate(values):
                where = f"{path}, {key}[{i}]"
                record(_parse_component(value, n_components, where), key == "accept", where)
    else:
        raise CurationError(f"{path}: curation file must be .csv (component,decision) or .yaml (accept: / reject:)")
    return decisions


def apply_curation(estimates: Estimates, decisions: Mapping[int, bool]) -> tuple[Estimates, np.ndarray]:
    """Override the automatic decisions.

    Returns
    -------
    estimates : Estimates
        Copy with updated ``idx_components`` / ``idx_components_bad``.
    curated : ndarray of bool, shape (K,)
        Which components were decided by the curation.
    """
    if not estimates.evaluated:
        raise ValueError("apply_curation needs evaluated estimates (run evaluate_components first)")
    accepted = estimates.accepted.copy()
    curated = np.zeros(estimates.n_components, dtype=bool)
    for k, accept in decisions.items():
        if not 0 <= int(k) < estimates.n_components:
            raise CurationError(f"component {k} does not exist (K={estimates.n_components})")
        accepted[int(k)] = bool(accept)
        curated[int(k)] = True
    out = estimates.replace(idx_components=np.flatnonzero(accepted), idx_components_bad=np.flatnonzero(~accepted))
    return out, curated


def components_table(estimates: Estimates, curated: np.ndarray | None = None):
    """One row per component: id, centroid_row, centroid_col, size_px, SNR, r_value, accepted, decided_by, reason.

    ``reason`` says why a component is rejected: ``curation``, ``vessel_edge``
    (:mod:`ace_neuro.cnmfe.vessels`) or ``quality`` (SNR / r-value); empty when accepted.
    """
    import pandas as pd

    n_comp = estimates.n_components
    curated = np.zeros(n_comp, dtype=bool) if curated is None else np.asarray(curated, dtype=bool)
    centroids = estimates.centroids()
    nan = np.full(n_comp, np.nan)
    return pd.DataFrame(
        {
            "id": np.arange(n_comp, dtype=np.int64),
            "centroid_row": centroids[:, 0],
            "centroid_col": centroids[:, 1],
            "size_px": estimates.sizes(),
            "SNR": nan if estimates.SNR_comp is None else estimates.SNR_comp.astype(np.float64),
            "r_value": nan if estimates.r_values is None else estimates.r_values.astype(np.float64),
            "accepted": estimates.accepted,
            "decided_by": np.where(curated, "curation", "auto"),
            "reason": _rejection_reasons(estimates, curated),
        }
    )


def _rejection_reasons(estimates: Estimates, curated: np.ndarray) -> np.ndarray:
    vessel = np.zeros(estimates.n_components, dtype=bool)
    vessel[np.asarray(estimates.params.get("vessel_edge_components") or [], dtype=np.int64)] = True
    reason = np.where(vessel, "vessel_edge", "quality").astype(object)
    reason[curated] = "curation"
    reason[estimates.accepted] = ""
    return reason


# --------------------------------------------------------------------------- workflow step


def _movie_file(movie: str | os.PathLike) -> Path:
    movie = Path(movie)
    if movie.is_file():
        return movie
    if not movie.is_dir():
        raise FileNotFoundError(f"{movie}: motion-corrected movie not found; run the motion step first")
    try:
        from ace_neuro.io.movie import find_caiman_memmap  # written by the motion step
    except ImportError:
        found = sorted(movie.glob("*.mmap"))
        if len(found) != 1:
            raise FileNotFoundError(
                f"{movie}: expected exactly one CaImAn .mmap file, found {len(found)}; re-run the motion step"
            ) from None
        return found[0]
    return Path(find_caiman_memmap(movie))


def run_evaluate_step(
    estimates_in: str | os.PathLike,
    movie: str | os.PathLike,
    estimates_out: str | os.PathLike,
    components_csv: str | os.PathLike,
    caiman_out: str | os.PathLike,
    params: Mapping[str, Any] | None = None,
    curation_file: str | os.PathLike | None = None,
    traces_png: str | os.PathLike | None = None,
) -> Estimates:
    """The ``evaluate`` workflow step: read, evaluate, curate, write the files.

    Parameters
    ----------
    estimates_in : path
        ``cnmfe/estimates.h5``.
    movie : path
        The motion-corrected CaImAn memory map, or the folder holding it.
    estimates_out : path
        ``evaluate/estimates.h5``: the input plus ``idx_components``,
        ``idx_components_bad``, ``SNR_comp`` and ``r_values``.
    components_csv : path
        ``evaluate/components.csv`` (see :func:`components_table`).
    caiman_out : path
        ``evaluate/estimates_caiman.hdf5`` in CaImAn's ``cnm.save()`` layout.
    params : mapping, optional
        Evaluate parameters.
    curation_file : path, optional
        Manual decisions (:func:`read_curation_file`), applied last.
    traces_png : path, optional
        ``evaluate/traces.png``: the best accepted components' traces.
    """
    from ace_neuro.cnmfe.figures import traces_figure
    from ace_neuro.io.movie import open_movie

    estimates = load_estimates(estimates_in)
    movie_path = _movie_file(movie)
    logger.info("evaluating %d components of %s on %s", estimates.n_components, estimates_in, movie_path)
    evaluated = evaluate_components(estimates, open_movie(movie_path), params)
    curated = np.zeros(evaluated.n_components, dtype=bool)
    if curation_file:
        decisions = read_curation_file(curation_file, evaluated.n_components)
        evaluated, curated = apply_curation(evaluated, decisions)
        logger.info(
            "curation %s: %d decisions applied; %d accepted",
            curation_file, len(decisions), evaluated.idx_components.size,
        )
    save_estimates(evaluated, estimates_out)
    table = components_table(evaluated, curated)
    with atomic_path(components_csv) as tmp:
        table.to_csv(tmp, index=False)
    export_caiman_hdf5(evaluated, caiman_out, mmap_file=movie_path.resolve())
    if traces_png is not None:
        traces_figure(evaluated, traces_png)
    return evaluated
