"""The ``sync`` rule's files: TTL pulses and the frame table in; frame times in ephys time out.

:func:`run_sync_step` reads the recording's TTL file (:mod:`ace_neuro.io.ttl`)
and ``frames.csv``, calls :func:`.sync.sync_timestamps` and writes every
output through :func:`ace_neuro.io.atomic.atomic_path`. Parameters keep the
stage's names (:mod:`ace_neuro.stages.sync`).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.frames import read_frames_table
from ace_neuro.io.ttl import parse_zero_time, read_ttl_times
from ace_neuro.postprocess.sync import has_ephys, parse_delete_indices, sync_timestamps
from ace_neuro.postprocess.params import SyncOptions

__all__ = ["run_sync_step"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike


def run_sync_step(
    ttl_path: PathLike,
    frames_path: PathLike,
    frames_ephys_csv: PathLike,
    periods_csv: PathLike,
    summary_json: PathLike,
    *,
    delete_indices: Any = None,
    zero_time: Any = None,
    options: SyncOptions | None = None,
    **names: Any,
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
    delete_indices : str, int, list or None
        The sample sheet's ``indices of TTL events to delete``
        (:func:`~.sync.parse_delete_indices`).
    zero_time : float, str or None
        The sample sheet's ``zero time (s)``, subtracted from ephys times.
    options : SyncOptions, optional
        The step's parameters (:class:`~ace_neuro.postprocess.params.SyncOptions`); defaults when omitted.
    **names
        Parameters by name, overriding ``options`` (checked the same way).

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
    options = SyncOptions.from_params(options, **names)
    if not has_ephys(str(ttl_path) if ttl_path is not None else None):
        raise ValueError("the sync step needs an 'ephys TTL file' in the sample sheet for this recording")
    frames = read_frames_table(frames_path)
    ttl = read_ttl_times(ttl_path, ttl_line=options.sync_ttl_line)
    delete = parse_delete_indices(delete_indices)
    zero = parse_zero_time(zero_time)
    result = sync_timestamps(
        ttl,
        frames["time_s"].to_numpy(np.float64),
        frames["dropped_before"].to_numpy(),
        delete_indices=delete,
        zero_time_s=zero,
        sync_tolerance=float(options.sync_tolerance),
        sync_max_unmatched_fraction=float(options.sync_max_unmatched_fraction),
        sync_interpolation=options.sync_interpolation,
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
