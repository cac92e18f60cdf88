"""The ``spectral`` rule's files: the mean fluorescence in; spectrogram, phase and band-passed signal out.

:func:`run_spectral_step` reads the projections' mean-fluorescence series and
the frame table, calls the functions of :mod:`.spectral` and writes every
output through :func:`ace_neuro.io.atomic.atomic_path`. Parameters keep the
stage's names (:mod:`ace_neuro.stages.spectral`, Prerau's and the seed's).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.frames import read_frame_rate, read_frames_table
from ace_neuro.postprocess.spectral import (
    bandpass_filter,
    hilbert_phase,
    multitaper_spectrogram,
    power_to_db,
    regularize_samples,
)
from ace_neuro.postprocess.traces import AcceptedTraceFile
from ace_neuro.progress import Progress
from ace_neuro.postprocess.params import SpectralOptions
from ace_neuro.postprocess.figures import plot_spectrogram

__all__ = ["run_spectral_step"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike
#: Working memory of one block of spectrogram windows (MB; :func:`~.spectral.multitaper_spectrogram`).
WINDOW_BLOCK_MB = 8.0
#: Rows pandas formats at once when writing the per-frame CSVs (its default, 100,000 / columns, grows the peak).
_CSV_ROWS = 4096


def run_spectral_step(
    mean_fluorescence_path: PathLike,
    frames_path: PathLike,
    metadata_path: PathLike,
    spectrogram_h5: PathLike,
    phase_csv: PathLike,
    filtered_csv: PathLike,
    spectrogram_png: PathLike,
    *,
    estimates_path: PathLike | None = None,
    options: SpectralOptions | None = None,
    **names: Any,
) -> None:
    """Spectrogram, band-passed signal and phase of the mean fluorescence.

    Frames the miniscope dropped are filled by linear interpolation on the
    acquisition grid first (:func:`~.spectral.regularize_samples`), so the
    spectral estimates see uniform sampling; outputs per frame are given for
    written frames only.

    Parameters
    ----------
    mean_fluorescence_path, frames_path, metadata_path : path-like
        ``mean_fluorescence.csv`` (projections), ``frames.csv`` and ``metadata.json`` (frame rate).
    spectrogram_h5, phase_csv, filtered_csv, spectrogram_png : path-like
        Outputs (below).
    estimates_path : path-like, optional
        Evaluated estimates; needed with ``spectral_per_neuron``.
    options : SpectralOptions, optional
        The step's parameters (:class:`~ace_neuro.postprocess.params.SpectralOptions`); defaults when omitted.
    **names
        Parameters by name, overriding ``options`` (checked the same way).

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
    options = SpectralOptions.from_params(options, **names)
    parameters = options.as_dict()
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
        freq_range=options.freq_range,
        time_bandwidth=float(options.time_bandwidth),
        num_tapers=int(options.num_tapers),
        window_params=options.window_params,
        min_nfft=int(options.min_nfft),
        detrend_opt=options.detrend_opt,
        weighting=options.weighting,
        memory_budget_mb=WINDOW_BLOCK_MB,
    )
    # check the filter before the long computation
    filtered_uniform = bandpass_filter(
        uniform, fs, lowcut=float(options.lowcut), highcut=float(options.highcut), filter_order=int(options.filter_order)
    )
    spec = multitaper_spectrogram(uniform, fs, **spectral_kw)
    spectral_kw["window_params"] = spec.window_params  # the neurons' spectrograms use the same window
    logger.info(
        "spectral: %d windows of %.3g s (step %.3g s) x %d frequencies (%.3g-%.3g Hz), nfft %d",
        spec.times.size, *spec.window_params, spec.frequencies.size, spec.frequencies[0], spec.frequencies[-1],
        spec.nfft,
    )
    if options.spectral_per_neuron and estimates_path is None:
        raise ValueError("spectral_per_neuron is true but no estimates file was given to the spectral step")

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
            h5.attrs["parameters"] = json.dumps(parameters)
            h5.attrs["sampling_rate_hz"] = fs
            h5.attrs["nfft"] = spec.nfft
            h5.attrs["window_params_used"] = list(spec.window_params)
            h5.attrs["n_interpolated_frames"] = int(n_filled)
            if options.spectral_per_neuron:
                with AcceptedTraceFile(estimates_path, n_frames=len(frames), frames_path=frames_path) as neurons:
                    _write_neuron_spectrograms(
                        h5, neurons, frames["dropped_before"].to_numpy(), fs, power_db.shape, spectral_kw,
                    )
    frame = frames["frame"].to_numpy()
    time_s = frames["time_s"].to_numpy(np.float64)
    with atomic_path(phase_csv) as tmp:
        pd.DataFrame(
            {"frame": frame, "time_s": time_s, "phase_rad": phase[positions], "amplitude": amplitude[positions]}
        ).to_csv(tmp, index=False, chunksize=_CSV_ROWS)
    with atomic_path(filtered_csv) as tmp:
        pd.DataFrame({"frame": frame, "time_s": time_s, "filtered": filtered_uniform[positions]}).to_csv(
            tmp, index=False, chunksize=_CSV_ROWS
        )
    plot_spectrogram(spectrogram_png, spec.times + t0, spec.frequencies, power_db)


def _write_neuron_spectrograms(h5, traces: AcceptedTraceFile, dropped_before, fs, shape, spectral_kw) -> None:
    """Spectrogram of each accepted neuron, one at a time, its trace read a block of neurons at a time.

    Memory holds one block of traces and one spectrogram: it grows neither with K nor with the recording's
    length (:meth:`~ace_neuro.postprocess.traces.AcceptedTraceFile.component_blocks`).
    """
    index = traces.index
    h5["neuron_index"] = index
    out = h5.create_dataset("neuron_power_db", shape=(index.size,) + tuple(shape), dtype=np.float32)
    out.attrs["description"] = "as power_db, for each accepted neuron's trace C: (neuron, frequency, time)"
    progress = Progress(index.size, "spectral (neurons)", logger, unit="neurons")
    for block in traces.component_blocks():
        C = traces.rows("C", block)
        for k, row in zip(range(block.start, block.stop), C):
            trace, _ = regularize_samples(row, dropped_before)
            out[k] = power_to_db(multitaper_spectrogram(trace, fs, **spectral_kw).power).astype(np.float32)
            progress.update(1)
