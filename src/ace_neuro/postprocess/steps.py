"""File-in, file-out steps of the ``events``, ``spectral`` and ``sync`` rules.

Each ``run_*_step`` reads its inputs, checks them (one clear error naming the
file and what to do), calls the pure functions of :mod:`.events`,
:mod:`.spectral` and :mod:`.sync`, and writes every output through
:func:`ace_neuro.io.atomic.atomic_path`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np
import pandas as pd

from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.frames import read_frame_rate, read_frames_table
from ace_neuro.io.ttl import parse_zero_time, read_ttl_times
from ace_neuro.io.images import save_figure
from ace_neuro.progress import Progress
from ace_neuro.postprocess.events import (
    Events,
    detect_events_deconvolution,
    detect_events_derivative,
    trace_noise,
)
from ace_neuro.postprocess.spectral import (
    bandpass_filter,
    hilbert_phase,
    multitaper_spectrogram,
    power_to_db,
    regularize_samples,
)
from ace_neuro.postprocess.sync import has_ephys, parse_delete_indices, sync_timestamps

__all__ = [
    "run_events_step",
    "run_spectral_step",
    "run_sync_step",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _flag(value: Any) -> bool:
    """A boolean parameter; anything but a real true (None, NaN from an empty sheet cell) is off."""
    return isinstance(value, (bool, np.bool_)) and bool(value)


def _load_accepted_traces(estimates_path: PathLike):
    from ace_neuro.cnmfe.estimates import load_estimates

    est = load_estimates(estimates_path)
    accepted = np.flatnonzero(est.accepted)
    C = np.asarray(est.C, dtype=np.float64)[accepted]
    YrA = np.zeros_like(C) if est.YrA is None else np.asarray(est.YrA, dtype=np.float64)[accepted]
    S = None if est.S is None else np.asarray(est.S, dtype=np.float64)[accepted]
    sn = None if est.neurons_sn is None else np.asarray(est.neurons_sn, dtype=np.float64)[accepted]
    return est, accepted, C, YrA, S, sn


def _check_frame_count(n_traces: int, frames: pd.DataFrame, estimates_path: PathLike, frames_path: PathLike) -> None:
    if n_traces != len(frames):
        raise ValueError(
            f"{estimates_path} has traces of {n_traces} frames but {frames_path} lists {len(frames)} frames; "
            "both must come from the same recording (re-run the pipeline for this recording)"
        )


# ----------------------------------------------------------------------------- events
def run_events_step(
    estimates_path: PathLike,
    frames_path: PathLike,
    metadata_path: PathLike,
    events_csv: PathLike,
    raster_png: PathLike,
    params: Mapping[str, Any],
) -> pd.DataFrame:
    """Detect calcium events of every accepted neuron and write them.

    Outputs
    -------
    ``events_csv``
        One row per event: ``neuron`` (component index in the estimates),
        ``frame`` (0-based written frame), ``time_s`` (from frames.csv),
        ``amplitude`` (see :class:`~ace_neuro.postprocess.events.Events`),
        ``method`` (``derivative`` or ``deconvolution``).
    ``raster_png``
        Raster plot, one row per accepted neuron, one panel per method.

    Returns
    -------
    DataFrame
        The events table.
    """
    frames = read_frames_table(frames_path)
    frame_rate = read_frame_rate(metadata_path)
    est, accepted, C, YrA, S, sn = _load_accepted_traces(estimates_path)
    _check_frame_count(est.C.shape[1], frames, estimates_path, frames_path)
    method = params["events_method"]
    methods = ("derivative", "deconvolution") if method == "both" else (method,)
    distance = max(1, int(round(float(params["event_distance_s"]) * frame_rate)))
    mode = params["events_threshold_mode"]
    raw = C + YrA
    logger.info(
        "events: %d accepted of %d components, %d frames, methods %s, min distance %d frames",
        accepted.size, est.C.shape[0], C.shape[1], methods, distance,
    )

    tables = []
    for name in methods:
        if name == "derivative":
            traces = C if params["events_trace"] == "denoised" else raw
            found = detect_events_derivative(
                traces,
                derivative=params["derivative_for_estimates"],
                height=float(params["event_height"]),
                distance=distance,
                threshold_mode=mode,
                noise_traces=raw,
            )
        else:
            if S is None or (S.size and not np.any(S)):
                logger.warning("events: the estimates have no deconvolved activity S; deconvolution finds nothing")
            noise = trace_noise(raw) if C.shape[1] >= 3 else np.zeros(C.shape[0])
            if sn is not None:  # without residuals (YrA = 0) the raw trace is the denoised one
                noise = np.where((noise > 0) | ~np.isfinite(sn), noise, sn)
            found = detect_events_deconvolution(
                np.zeros_like(C) if S is None else S,
                height=float(params["deconvolution_event_height"]),
                distance=distance,
                threshold_mode=mode,
                noise=noise,
            )
        tables.append(_events_table(found, accepted, frames, name))
        logger.info("events: %s method found %d events", name, len(found.frame))
    table = pd.concat(tables, ignore_index=True)
    with atomic_path(events_csv) as tmp:
        table.to_csv(tmp, index=False)
    _plot_raster(raster_png, table, accepted, frames["time_s"].to_numpy(float), methods)
    return table


def _events_table(found: Events, accepted: np.ndarray, frames: pd.DataFrame, method: str) -> pd.DataFrame:
    time_s = frames["time_s"].to_numpy(np.float64)
    return pd.DataFrame(
        {
            "neuron": accepted[found.neuron].astype(np.int64) if found.neuron.size else np.zeros(0, np.int64),
            "frame": found.frame,
            "time_s": time_s[found.frame] if found.frame.size else np.zeros(0),
            "amplitude": found.amplitude,
            "method": np.full(found.frame.size, method, dtype=object),
        }
    )


def _plot_raster(path: PathLike, table: pd.DataFrame, accepted: np.ndarray, time_s: np.ndarray, methods) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {int(k): i for i, k in enumerate(accepted)}
    height = min(12.0, 1.5 + 0.12 * max(accepted.size, 1))
    fig, axes = plt.subplots(len(methods), 1, figsize=(10, height * len(methods)), squeeze=False, sharex=True)
    for ax, method in zip(axes[:, 0], methods):
        sub = table[table["method"] == method]
        if accepted.size == 0:
            ax.text(0.5, 0.5, "no accepted neurons", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.scatter(sub["time_s"], [rows[int(n)] for n in sub["neuron"]], marker="|", s=30, c="k", linewidths=0.8)
            ax.set_ylim(-0.5, accepted.size - 0.5)
        ax.set_xlim(time_s[0] if time_s.size else 0, time_s[-1] if time_s.size else 1)
        ax.set_ylabel("accepted neuron")
        ax.set_title(f"calcium events ({method}, {len(sub)} events)")
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    save_figure(fig, path)


# ----------------------------------------------------------------------------- spectral
def run_spectral_step(
    mean_fluorescence_path: PathLike,
    frames_path: PathLike,
    metadata_path: PathLike,
    spectrogram_h5: PathLike,
    phase_csv: PathLike,
    filtered_csv: PathLike,
    spectrogram_png: PathLike,
    params: Mapping[str, Any],
    estimates_path: PathLike | None = None,
) -> None:
    """Spectrogram, band-passed signal and phase of the mean fluorescence.

    Frames the miniscope dropped are filled by linear interpolation on the
    acquisition grid first (:func:`~.spectral.regularize_samples`), so the
    spectral estimates see uniform sampling; outputs per frame are given for
    written frames only.

    Outputs
    -------
    ``spectrogram_h5``
        ``times_s`` (W,), ``frequencies_hz`` (F,), ``power_db`` (F, W) of the
        mean fluorescence (dB of signal units squared per Hz); with
        ``spectral_per_neuron`` also ``neuron_power_db`` (K, F, W) and
        ``neuron_index`` (K,). Attributes: ``parameters`` (JSON),
        ``sampling_rate_hz``, ``nfft``, ``n_interpolated_frames``,
        ``window_params_used`` ([window, step] s: adapted to a short recording when ``window_params`` is null).
    ``phase_csv``
        ``frame, time_s, phase_rad, amplitude``: Hilbert phase (-pi, pi] and
        envelope of the band-passed mean fluorescence.
    ``filtered_csv``
        ``frame, time_s, filtered``: the band-passed mean fluorescence.
    ``spectrogram_png``
        The spectrogram image.
    """
    frames = read_frames_table(frames_path)
    fs = read_frame_rate(metadata_path)
    path = Path(mean_fluorescence_path)
    series = pd.read_csv(path)
    if "mean_fluorescence" not in series.columns:
        raise ValueError(f"{path}: missing column 'mean_fluorescence'; expected the projections step's output")
    values = series["mean_fluorescence"].to_numpy(np.float64)
    if values.size != len(frames):
        raise ValueError(
            f"{path} has {values.size} samples but {frames_path} lists {len(frames)} frames; "
            "both must come from the same recording"
        )
    uniform, positions = regularize_samples(values, frames["dropped_before"].to_numpy())
    n_filled = uniform.size - values.size
    if n_filled:
        logger.info("spectral: %d dropped frames filled by interpolation", n_filled)
    t0 = float(frames["time_s"].iloc[0]) if len(frames) else 0.0
    spectral_kw = dict(
        freq_range=params["freq_range"],
        time_bandwidth=float(params["time_bandwidth"]),
        num_tapers=int(params["num_tapers"]),
        window_params=params["window_params"],
        min_nfft=int(params["min_nfft"]),
        detrend_opt=params["detrend_opt"],
        weighting=params["weighting"],
    )
    # check the filter before the long computation
    filtered_uniform = bandpass_filter(
        uniform, fs, lowcut=float(params["lowcut"]), highcut=float(params["highcut"]),
        filter_order=int(params["filter_order"]),
    )
    spec = multitaper_spectrogram(uniform, fs, **spectral_kw)
    spectral_kw["window_params"] = spec.window_params  # the neurons' spectrograms use the same window
    logger.info(
        "spectral: %d windows of %.3g s (step %.3g s) x %d frequencies (%.3g-%.3g Hz), nfft %d",
        spec.times.size, *spec.window_params, spec.frequencies.size, spec.frequencies[0], spec.frequencies[-1],
        spec.nfft,
    )
    neuron_traces = neuron_index = None
    if _flag(params.get("spectral_per_neuron")):
        if estimates_path is None:
            raise ValueError("spectral_per_neuron is true but no estimates file was given to the spectral step")
        est, accepted, C, _, _, _ = _load_accepted_traces(estimates_path)
        _check_frame_count(est.C.shape[1], frames, estimates_path, frames_path)
        neuron_traces, neuron_index = C, accepted.astype(np.int64)

    phase, amplitude = hilbert_phase(filtered_uniform)
    power_db = power_to_db(spec.power)
    with atomic_path(spectrogram_h5) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5["times_s"] = spec.times + t0
            h5["times_s"].attrs["description"] = "centre of each window, seconds (frames.csv clock)"
            h5["frequencies_hz"] = spec.frequencies
            h5["power_db"] = power_db.astype(np.float32)
            h5["power_db"].attrs["description"] = (
                "10*log10 of the one-sided multitaper PSD of the mean fluorescence, (frequency, time)"
            )
            h5.attrs["parameters"] = json.dumps(dict(params))
            h5.attrs["sampling_rate_hz"] = fs
            h5.attrs["nfft"] = spec.nfft
            h5.attrs["window_params_used"] = list(spec.window_params)
            h5.attrs["n_interpolated_frames"] = int(n_filled)
            if neuron_traces is not None:
                _write_neuron_spectrograms(h5, neuron_traces, neuron_index, frames, fs, power_db.shape, spectral_kw)
    frame = frames["frame"].to_numpy()
    time_s = frames["time_s"].to_numpy(np.float64)
    with atomic_path(phase_csv) as tmp:
        pd.DataFrame(
            {"frame": frame, "time_s": time_s, "phase_rad": phase[positions], "amplitude": amplitude[positions]}
        ).to_csv(tmp, index=False)
    with atomic_path(filtered_csv) as tmp:
        pd.DataFrame({"frame": frame, "time_s": time_s, "filtered": filtered_uniform[positions]}).to_csv(
            tmp, index=False
        )
    _plot_spectrogram(spectrogram_png, spec.times + t0, spec.frequencies, power_db)


def _write_neuron_spectrograms(h5, traces, index, frames, fs, shape, spectral_kw) -> None:
    """Spectrogram of each accepted neuron, one at a time (memory does not grow with K)."""
    h5["neuron_index"] = index
    out = h5.create_dataset("neuron_power_db", shape=(index.size,) + tuple(shape), dtype=np.float32)
    out.attrs["description"] = "as power_db, for each accepted neuron's trace C: (neuron, frequency, time)"
    progress = Progress(index.size, "spectral (neurons)", logger, unit="neurons")
    dropped = frames["dropped_before"].to_numpy()
    for k in range(index.size):
        trace, _ = regularize_samples(traces[k], dropped)
        out[k] = power_to_db(multitaper_spectrogram(trace, fs, **spectral_kw).power).astype(np.float32)
        progress.update(1)


def _plot_spectrogram(path: PathLike, times: np.ndarray, freqs: np.ndarray, power_db: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    finite = power_db[np.isfinite(power_db)]
    vmin, vmax = (np.percentile(finite, [5, 98]) if finite.size else (None, None))
    minutes = times / 60.0
    mesh = ax.pcolormesh(minutes, freqs, power_db, shading="nearest", cmap="jet", vmin=vmin, vmax=vmax)
    fig.colorbar(mesh, ax=ax, label="power (dB)")
    ax.set_xlabel("time (min)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title("multitaper spectrogram of mean fluorescence")
    fig.tight_layout()
    save_figure(fig, path)


# ----------------------------------------------------------------------------- sync
def run_sync_step(
    ttl_path: PathLike,
    frames_path: PathLike,
    frames_ephys_csv: PathLike,
    periods_csv: PathLike,
    summary_json: PathLike,
    params: Mapping[str, Any],
    *,
    delete_indices: Any = None,
    zero_time: Any = None,
) -> dict:
    """Ephys time of every written frame from the recording's TTL pulses.

    Parameters
    ----------
    ttl_path : path
        The sample sheet's ``ephys TTL file`` (see :func:`read_ttl_times`).
    frames_path : path
        ``convert/frames.csv``.
    frames_ephys_csv, periods_csv, summary_json : path
        Outputs.
    params : mapping
        The ``sync`` stage parameters.
    delete_indices : str, int, list or None
        The sample sheet's ``indices of TTL events to delete``
        (:func:`~.sync.parse_delete_indices`).
    zero_time : float, str or None
        The sample sheet's ``zero time (s)``, subtracted from ephys times.

    Outputs
    -------
    ``frames_ephys_csv``
        ``frame, time_s`` (miniscope), ``ephys_time_s``, ``confidence``
        (``high``: the frame's own pulse; ``low``: interpolated).
    ``periods_csv``
        ``start_frame, end_frame, start_s, end_s`` (inclusive frames; ephys
        seconds) of each run of low-confidence frames.
    ``summary_json``
        Counts, drift (ppm), offset, fit residual, deleted and extra pulses.

    Returns
    -------
    dict
        The summary.
    """
    if not has_ephys(str(ttl_path) if ttl_path is not None else None):
        raise ValueError("the sync step needs an 'ephys TTL file' in the sample sheet for this recording")
    frames = read_frames_table(frames_path)
    ttl = read_ttl_times(ttl_path, ttl_line=params.get("sync_ttl_line"))
    delete = parse_delete_indices(delete_indices)
    zero = parse_zero_time(zero_time)
    result = sync_timestamps(
        ttl,
        frames["time_s"].to_numpy(np.float64),
        frames["dropped_before"].to_numpy(),
        delete_indices=delete,
        zero_time_s=zero,
        sync_tolerance=float(params["sync_tolerance"]),
        sync_max_unmatched_fraction=float(params["sync_max_unmatched_fraction"]),
        sync_interpolation=params["sync_interpolation"],
    )
    frame = frames["frame"].to_numpy()
    with atomic_path(frames_ephys_csv) as tmp:
        pd.DataFrame(
            {
                "frame": frame,
                "time_s": frames["time_s"].to_numpy(np.float64),
                "ephys_time_s": result.ephys_time_s,
                "confidence": np.where(result.confident, "high", "low"),
            }
        ).to_csv(tmp, index=False, float_format="%.7f")
    periods = result.low_confidence_periods
    with atomic_path(periods_csv) as tmp:
        pd.DataFrame(
            {
                "start_frame": frame[periods[:, 0]] if periods.size else np.zeros(0, np.int64),
                "end_frame": frame[periods[:, 1]] if periods.size else np.zeros(0, np.int64),
                "start_s": result.ephys_time_s[periods[:, 0]] if periods.size else np.zeros(0),
                "end_s": result.ephys_time_s[periods[:, 1]] if periods.size else np.zeros(0),
            }
        ).to_csv(tmp, index=False, float_format="%.7f")
    summary = {
        "ttl_file": str(ttl_path),
        "n_ttl_pulses_in_file": int(ttl.size),
        "deleted_pulse_indices": delete,
        "zero_time_s": zero,
        "n_pulses": result.n_pulses,
        "n_frames_written": int(len(frames)),
        "n_frames_acquired": result.n_acquired,
        "n_frames_dropped": result.n_acquired - int(len(frames)),
        "n_matched": result.n_matched,
        "n_frames_without_pulse": result.n_acquired - result.n_matched,
        "n_written_frames_low_confidence": int((~result.confident).sum()),
        "n_low_confidence_periods": int(periods.shape[0]),
        "extra_pulse_indices": result.extra_pulses.tolist(),
        "drift_ppm": result.drift_ppm,
        "offset_s": result.offset_s,
        "fit_residual_ms": result.residual_ms,
        "interpolation": result.interpolation,
    }
    with atomic_path(summary_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    logger.info(
        "sync: %d pulses, %d acquired frames (%d written): %d matched, %d frames interpolated, "
        "%d extra pulses; drift %.2f ppm, residual %.3f ms",
        result.n_pulses, result.n_acquired, len(frames), result.n_matched,
        result.n_acquired - result.n_matched, len(result.extra_pulses), result.drift_ppm, result.residual_ms,
    )
    return summary
