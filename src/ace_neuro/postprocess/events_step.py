"""The ``events`` rule's files: accepted traces in, the events table and its raster plot out.

:func:`run_events_step` reads the frame table, the frame rate and the
estimates' accepted traces a block of components at a time (memory flat in
the recording's length), calls the detectors of :mod:`.events` on each block
and writes every output through :func:`ace_neuro.io.atomic.atomic_path`. Parameters keep the stage's names
(:mod:`ace_neuro.stages.events`).
"""

from __future__ import annotations

import logging
import os

from typing import Any

import numpy as np
import pandas as pd

from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.frames import read_frame_rate, read_frames_table
from ace_neuro.postprocess.events import Events, detect_events_deconvolution, detect_events_derivative, trace_noise
from ace_neuro.postprocess.traces import AcceptedTraceFile
from ace_neuro.postprocess.params import EventsOptions
from ace_neuro.postprocess.figures import plot_raster

__all__ = ["run_events_step"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike
#: Events written to events.csv at once.
_CSV_ROWS = 8192


def run_events_step(
    estimates_path: PathLike,
    frames_path: PathLike,
    metadata_path: PathLike,
    events_csv: PathLike,
    raster_png: PathLike,
    *,
    options: EventsOptions | None = None,
    **names: Any,
) -> dict[str, int]:
    """Detect calcium events of every accepted neuron and write them.

    Parameters
    ----------
    estimates_path, frames_path, metadata_path : path-like
        Evaluated estimates (HDF5), ``frames.csv`` and ``metadata.json`` (frame rate).
    events_csv, raster_png : path-like
        Outputs (below).
    options : EventsOptions, optional
        The step's parameters (:class:`~ace_neuro.postprocess.params.EventsOptions`: the detector(s), the
        derivative and trace searched, both thresholds and their unit, the minimum distance); defaults when omitted.
    **names
        Parameters by name, overriding ``options`` (checked the same way).

    Outputs
    -------
    ``events_csv``
        One row per event: ``neuron`` (component index in the estimates),
        ``frame`` (0-based written frame), ``time_s`` (from frames.csv),
        ``amplitude`` (see :class:`~ace_neuro.postprocess.events.Events`),
        ``method`` (``derivative`` or ``deconvolution``).
    ``raster_png``
        Raster plot, one row per accepted neuron labelled with its component id, one panel per method.

    The events are kept as arrays (neuron, frame, amplitude: 24 bytes each) and written a chunk of rows at a
    time, so memory holds no table of every event.

    Returns
    -------
    dict
        Method -> number of events found.
    """
    options = EventsOptions.from_params(options, **names)
    frames = read_frames_table(frames_path)
    frame_rate = read_frame_rate(metadata_path)
    methods = ("derivative", "deconvolution") if options.events_method == "both" else (options.events_method,)
    distance = max(1, int(round(float(options.event_distance_s) * frame_rate)))
    found: dict[str, list[Events]] = {name: [] for name in methods}
    with AcceptedTraceFile(estimates_path, n_frames=len(frames), frames_path=frames_path) as traces:
        logger.info(
            "events: %d accepted of %d components, %d frames, methods %s, min distance %d frames",
            traces.index.size, traces.n_components, traces.n_frames, methods, distance,
        )
        any_activity = False
        for block in traces.component_blocks():  # a block of components at a time: memory flat in T
            C = traces.rows("C", block)
            raw = C + traces.rows("YrA", block)
            S = traces.rows("S", block)
            any_activity = any_activity or (S is not None and bool(np.any(S)))
            sn = None if traces.sn is None else traces.sn[block]
            for name in methods:
                events = _detect(name, C, raw, S, sn, options, distance)
                found[name].append(events._replace(neuron=events.neuron + block.start))
        empty_activity = traces.index.size * traces.n_frames > 0 and not any_activity
        if "deconvolution" in methods and (not traces.has_activity or empty_activity):
            logger.warning("events: the estimates have no deconvolved activity S; deconvolution finds nothing")
        accepted = traces.index

    events = {name: Events(*(np.concatenate(parts) for parts in zip(*found.pop(name)))) for name in methods}
    time_s = frames["time_s"].to_numpy(np.float64)
    with atomic_path(events_csv) as tmp, open(tmp, "w", newline="") as out:
        header = True
        for name in methods:
            logger.info("events: %s method found %d events", name, len(events[name].frame))
            for start in range(0, max(1, events[name].frame.size), _CSV_ROWS):  # one chunk when there are none
                chunk = Events(*(values[start:start + _CSV_ROWS] for values in events[name]))
                _events_table(chunk, accepted, time_s, name).to_csv(out, index=False, header=header)
                header = False
    plot_raster(raster_png, {name: (accepted[e.neuron], time_s[e.frame]) for name, e in events.items()}, accepted,
                time_s, methods)
    return {name: int(e.frame.size) for name, e in events.items()}


def _detect(method: str, C: np.ndarray, raw: np.ndarray, S: np.ndarray | None, sn: np.ndarray | None,
            options: EventsOptions, distance: int) -> Events:
    """Events of one block of components by ``method``; rows of ``C``, ``raw`` (C + YrA), ``S`` are the block's.

    Every detector works row by row, so a block's events are those of the whole array's rows (neuron = row in
    the block).
    """
    if method == "derivative":
        return detect_events_derivative(
            C if options.events_trace == "denoised" else raw,
            derivative=options.derivative_for_estimates,
            height=float(options.event_height),
            distance=distance,
            threshold_mode=options.events_threshold_mode,
            noise_traces=raw,
        )
    noise = trace_noise(raw) if C.shape[1] >= 3 else np.zeros(C.shape[0])
    if sn is not None:  # without residuals (YrA = 0) the raw trace is the denoised one
        noise = np.where((noise > 0) | ~np.isfinite(sn), noise, sn)
    return detect_events_deconvolution(
        np.zeros_like(C) if S is None else S,
        height=float(options.deconvolution_event_height),
        distance=distance,
        threshold_mode=options.events_threshold_mode,
        noise=noise,
    )


def _events_table(found: Events, accepted: np.ndarray, time_s: np.ndarray, method: str) -> pd.DataFrame:
    """Rows of ``events.csv`` for ``found`` (neuron = row of ``accepted``)."""
    return pd.DataFrame(
        {
            "neuron": accepted[found.neuron].astype(np.int64) if found.neuron.size else np.zeros(0, np.int64),
            "frame": found.frame,
            "time_s": time_s[found.frame] if found.frame.size else np.zeros(0),
            "amplitude": found.amplitude,
            "method": np.full(found.frame.size, method, dtype=object),
        }
    )
