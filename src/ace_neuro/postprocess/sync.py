"""Align miniscope frames to electrophysiology time from TTL pulses.

The miniscope DAQ emits one TTL pulse per acquired frame, recorded by the
electrophysiology system on its own clock. Real trains are imperfect:

* pulses can be missing (the ephys system missed an edge),
* extra pulses appear (electrical noise, a second device on the line), some
  known in advance (the sample sheet's ``indices of TTL events to delete``),
* the miniscope drops frames (acquired, so they have a pulse, but never
  written; ``frames.csv`` ``dropped_before`` says where),
* the two clocks drift apart (tens of ppm for crystal oscillators).

:func:`sync_timestamps` places every acquired frame on the miniscope clock
(dropped frames spaced evenly between their written neighbours), then matches
pulses to frames in one pass along the recording. Each frame's pulse is
predicted twice, from the last matched frame: by the miniscope timestamps
(right when acquisition is irregular) and by the frame clock (acquired-frame
index times the fitted pulse period; right when host timestamps jitter). The
predictor with the smaller running error centres a search window whose width
shrinks, once that error is known, to six times its RMS (never more than
``sync_tolerance`` periods), so a spurious pulse next to a frame whose own
pulse is missing is not taken for it. Pulses outside every window are extra;
frames with no pulse in their window are missing. Which pulse belongs to the
first frame is found by scoring candidate pairings at the start and walking
the whole recording from the best few; a walk that leaves frames or pulses
unmatched at either end betrays a shift by whole frames.

A straight-line fit ``ephys_time = offset + rate * miniscope_time`` over the
matched pairs gives the clock drift (ppm). Every written frame gets its own
pulse time (high confidence) or, without one, a time interpolated between its
matched neighbours (low confidence, grouped into periods).

Everything here is pure (arrays in, arrays out); reading TTL files is in
:mod:`ace_neuro.io.ttl`, the rule's files in :mod:`ace_neuro.postprocess.sync_step`.

References
----------
Seed: ``MiniscopeDataManager.sync_timestamps`` (returns frame times in ephys
time and the periods where gaps were interpolated).
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple, Sequence

import numpy as np
from ace_neuro.postprocess.params import SyncOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in SyncOptions).
_DEFAULTS = SyncOptions()

__all__ = [
    "SyncResult",
    "SyncError",
    "parse_delete_indices",
    "has_ephys",
    "acquired_frame_times",
    "match_pulses",
    "low_confidence_periods",
    "sync_timestamps",
]


class SyncError(ValueError):
    """TTL pulses that cannot be reconciled with the miniscope frames."""


class SyncResult(NamedTuple):
    """Result of :func:`sync_timestamps`.

    Attributes
    ----------
    ephys_time_s : ndarray of float64, shape (T,)
        Ephys time of each written frame (s, minus the zero time).
    confident : ndarray of bool, shape (T,)
        True where the frame has its own TTL pulse, False where its time was
        interpolated.
    low_confidence_periods : ndarray of int64, shape (P, 2)
        ``[first_frame, last_frame]`` (inclusive, written-frame indices) of
        each run of interpolated frames.
    drift_ppm : float
        Clock drift ``(rate - 1) * 1e6``: positive if the ephys clock runs
        fast relative to the miniscope's timestamps.
    offset_s : float
        Ephys time of miniscope time 0 from the linear fit.
    residual_ms : float
        Root mean square of the fit residuals over matched pulses (ms).
    n_pulses : int
        Pulses after deleting the listed indices.
    n_acquired : int
        Acquired frames (written + dropped).
    n_matched : int
        Pulses matched to a frame.
    extra_pulses : ndarray of int64
        Indices (into the TTL array as given, before deletion) of pulses that
        match no frame, including the deleted ones.
    interpolation : str
        Interpolation used for frames without a pulse (``'frame_clock'`` or
        ``'timestamps'``; ``'none'`` if every frame had a pulse).
    """

    ephys_time_s: np.ndarray
    confident: np.ndarray
    low_confidence_periods: np.ndarray
    drift_ppm: float
    offset_s: float
    residual_ms: float
    n_pulses: int
    n_acquired: int
    n_matched: int
    extra_pulses: np.ndarray
    interpolation: str


def has_ephys(value: Any) -> bool:
    """Whether a sample-sheet ``ephys TTL file`` cell names a file (see :func:`ace_neuro.sheet.has_value`)."""
    from ace_neuro.sheet import has_value

    return has_value(value)


def parse_delete_indices(value: Any) -> list[int]:
    """Parse the sample sheet's ``indices of TTL events to delete``.

    Accepts an empty cell (``None``, NaN, ``""``), an integer, a sequence of
    integers, or a string such as ``"[3, 17]"``, ``"3;17"``, ``"3,17"`` or
    ``"3 17"``.

    Returns
    -------
    list of int
        Sorted unique 0-based indices into the TTL file's pulses.

    Raises
    ------
    ValueError
        If an entry is not a non-negative integer.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (int, np.integer)):
        items: Sequence[Any] = [int(value)]
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"indices of TTL events to delete: {value!r} is not an integer")
        items = [int(value)]
    elif isinstance(value, str):
        text = value.strip().strip("[]()")
        items = [tok for tok in re.split(r"[;,\s]+", text) if tok]
    else:
        items = list(value)
    out = set()
    for tok in items:
        try:
            number = float(tok)
        except (TypeError, ValueError):
            raise ValueError(
                f"indices of TTL events to delete: {tok!r} in {value!r} is not an integer; "
                "write e.g. '[3, 17]' or '3;17'"
            ) from None
        if not number.is_integer() or number < 0:
            raise ValueError(
                f"indices of TTL events to delete: {tok!r} in {value!r} is not a non-negative integer"
            )
        out.add(int(number))
    return sorted(out)


def acquired_frame_times(
    time_s: np.ndarray, dropped_before: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Miniscope times of all acquired frames, dropped ones included.

    Parameters
    ----------
    time_s : ndarray, shape (T,)
        Miniscope timestamp of each written frame (s), non-decreasing.
    dropped_before : ndarray of int, shape (T,), optional
        Frames dropped just before each written frame.

    Returns
    -------
    times : ndarray of float64, shape (N,)
        ``N = T + sum(dropped_before)``; a dropped frame's time is spaced
        evenly between its written neighbours (extrapolated by the median
        frame interval before the first written frame).
    positions : ndarray of int64, shape (T,)
        Index of each written frame in ``times``.
    """
    time_s = np.asarray(time_s, dtype=np.float64).reshape(-1)
    n_written = time_s.size
    if n_written < 2:
        raise ValueError(f"need at least 2 frames to synchronise; got {n_written}")
    if not np.all(np.isfinite(time_s)) or np.any(np.diff(time_s) < 0):
        raise ValueError("frame times (frames.csv time_s) must be finite and never decrease")
    if dropped_before is None:
        dropped = np.zeros(n_written, np.int64)
    else:
        dropped = np.asarray(dropped_before).astype(np.int64).reshape(-1)
        if dropped.size != n_written:
            raise ValueError(f"dropped_before has {dropped.size} entries for {n_written} frames")
        if np.any(dropped < 0):
            raise ValueError("dropped_before must be >= 0")
    positions = np.arange(n_written, dtype=np.int64) + np.cumsum(dropped)
    n_acquired = int(positions[-1]) + 1
    grid = np.arange(n_acquired, dtype=np.float64)
    times = np.interp(grid, positions, time_s)
    if dropped[0] > 0:  # np.interp holds the first value constant to the left
        period = float(np.median(np.diff(time_s) / np.diff(positions)))
        head = grid[: positions[0]]
        times[: positions[0]] = time_s[0] - (positions[0] - head) * period
    return times, positions


def _anchor_candidates(pulses: np.ndarray, frames: np.ndarray, tol: float, n_best: int = 4) -> list[tuple[int, int]]:
    """Pairs (pulse, frame) that best explain the start of both trains.

    Every pairing of one of the first pulses with one of the first frames
    gives an offset; it scores the number of the first frames that have a
    pulse within ``tol`` of ``offset + frame time``, minus the pulses it
    leaves unexplained before the first frame. A regular train shifted by a
    few frames scores almost as well, so the best few distinct offsets are
    returned (best first; ties go to the earliest pairing) for
    :func:`match_pulses` to decide on the whole recording.
    """
    n_pulses, n_frames = pulses.size, frames.size
    n_score = min(n_frames, 256)
    head_pulses = min(n_pulses, 16 + max(0, n_pulses - n_frames), 512)
    head_frames = min(n_frames, 16 + max(0, n_frames - n_pulses), 512)
    ref = frames[:n_score]
    scored = []
    for a in range(head_frames):
        offsets = pulses[:head_pulses] - frames[a]  # (J,)
        pred = offsets[:, None] + ref[None, :]  # (J, n_score)
        if n_pulses > 1:
            idx = np.clip(np.searchsorted(pulses, pred), 1, n_pulses - 1)
            nearest = np.minimum(np.abs(pulses[idx] - pred), np.abs(pulses[idx - 1] - pred))
        else:
            nearest = np.abs(pulses[0] - pred)
        before = np.searchsorted(pulses, offsets + frames[0] - tol)  # pulses left before frame 0
        scores = (nearest <= tol).sum(axis=1) - before
        for j in range(head_pulses):
            scored.append((-int(scores[j]), j + a, j, a))
    scored.sort()
    out: list[tuple[int, int]] = []
    offsets_taken: list[float] = []
    for _, _, j, a in scored:
        offset = pulses[j] - frames[a]
        if all(abs(offset - o) > tol for o in offsets_taken):
            out.append((j, a))
            offsets_taken.append(offset)
            if len(out) == n_best:
                break
    return out


def match_pulses(
    pulses: np.ndarray, frames: np.ndarray, *, tolerance: float = 0.4, measured: np.ndarray | None = None
) -> np.ndarray:
    """Match TTL pulses to acquired frames.

    Parameters
    ----------
    pulses : ndarray, shape (M,)
        Pulse times on the ephys clock (s), non-decreasing.
    frames : ndarray, shape (N,)
        Acquired-frame times on the miniscope clock (s), increasing.
    tolerance : float
        A pulse matches a frame when within ``tolerance`` frame periods
        (median interval) of the time predicted for it; at most 0.5.
    measured : ndarray of bool, shape (N,), optional
        False for frames whose time is only an estimate (dropped frames);
        they are searched with the full tolerance and do not train the
        predictors. Default: all measured.

    Returns
    -------
    ndarray of int64, shape (N,)
        Index of the pulse of each frame, -1 where the frame has none.
    """
    pulses = np.asarray(pulses, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.float64)
    if not 0 < tolerance <= 0.5:
        raise ValueError(f"sync_tolerance must be in (0, 0.5] frame periods; got {tolerance}")
    n_pulses, n_frames = pulses.size, frames.size
    pulse_of_frame = np.full(n_frames, -1, dtype=np.int64)
    if n_pulses == 0 or n_frames == 0:
        return pulse_of_frame
    period = float(np.median(np.diff(frames))) if n_frames > 1 else 1.0
    tol = tolerance * period
    measured = np.ones(n_frames, bool) if measured is None else np.asarray(measured, bool)
    if measured.shape != (n_frames,):
        raise ValueError(f"measured must have shape ({n_frames},); got {measured.shape}")
    # A regular train shifted by a frame or two matches almost as many pulses;
    # what betrays a shift is at the ends: frames without a pulse before the
    # first / after the last matched frame, and pulses left over beyond the
    # first / last matched pulse. Each candidate walk is scored on both.
    best = None
    for j0, a0 in _anchor_candidates(pulses, frames, tol):
        candidate = _walk(pulses, frames, measured, j0, a0, tol, period)
        hit = np.flatnonzero(candidate >= 0)
        if hit.size == 0:
            continue
        loose_frames = hit[0] + (n_frames - 1 - hit[-1])
        loose_pulses = candidate[hit[0]] + (n_pulses - 1 - candidate[hit[-1]])
        quality = hit.size - loose_frames - loose_pulses
        if best is None or quality > best[0]:
            best = (quality, candidate)
    return pulse_of_frame if best is None else best[1]


def _walk(
    pulses: np.ndarray, frames: np.ndarray, measured: np.ndarray, j0: int, a0: int, tol: float, period: float
) -> np.ndarray:
    """Match frames to pulses in order, starting from the pairing (j0, a0)."""
    n_pulses, n_frames = pulses.size, frames.size
    pulse_of_frame = np.full(n_frames, -1, dtype=np.int64)
    ref_index, ref_pulse = a0, pulses[j0]  # last matched frame (frame clock)
    ref_frame, ref_frame_pulse = frames[a0], pulses[j0]  # last matched measured frame (timestamps)
    rate = 1.0  # ephys seconds per miniscope second
    pulse_period = period  # ephys seconds per acquired frame
    # running sums for least-squares fits of pulse time on frame time and on frame index
    s_n = s_x = s_y = s_xx = s_xy = s_i = s_ii = s_iy = 0.0
    err_clock = err_stamp = 0.0  # running mean squared errors of the two predictors
    n_err = 0
    j = 0
    for a in range(n_frames):
        # two predictions of this frame's pulse: from the miniscope timestamps
        # (follows irregular acquisition and frames dropped unnoticed) and from
        # the frame clock (immune to host timestamp jitter)
        pred_stamp = ref_frame_pulse + (frames[a] - ref_frame) * rate
        pred_clock = ref_pulse + (a - ref_index) * pulse_period
        # the one that has been more accurate so far centres the search window,
        # unless they disagree by more than half a period and 6 RMS errors of the
        # timestamps (a frame dropped without notice: trust the timestamps);
        # a dropped frame has only an estimated timestamp: use the frame clock
        use_clock = not measured[a] or (
            err_clock < err_stamp and abs(pred_clock - pred_stamp) < max(0.5 * period, 6.0 * np.sqrt(err_stamp))
        )
        pred = pred_clock if use_clock else pred_stamp
        # once the prediction error is known, the window shrinks to 6 times its
        # RMS (at least a tenth of a period), so a spurious pulse near a frame
        # whose own pulse is missing is not taken for it
        rms = np.sqrt(err_clock if use_clock else err_stamp)
        win = tol if n_err < 32 else min(tol, max(6.0 * rms, 0.1 * period))
        while j < n_pulses and pulses[j] < pred - win:
            j += 1  # a pulse before this frame's window that no frame claimed: extra
        best, best_err = -1, np.inf
        k = j
        while k < n_pulses and pulses[k] <= pred + win:
            err = abs(pulses[k] - pred)
            if err < best_err:
                best, best_err = k, err
            k += 1
        if best < 0:
            continue
        pulse_of_frame[a] = best
        j = k  # other pulses in this window are extra
        if a == ref_index + 1 and measured[a] and measured[ref_index]:
            n_err += 1
            alpha = max(0.02, 1.0 / n_err)
            err_clock += alpha * ((pulses[best] - pred_clock) ** 2 - err_clock)
            err_stamp += alpha * ((pulses[best] - pred_stamp) ** 2 - err_stamp)
        ref_index, ref_pulse = a, pulses[best]
        if not measured[a]:
            continue
        ref_frame, ref_frame_pulse = frames[a], pulses[best]
        x, y = frames[a] - frames[0], pulses[best] - pulses[0]
        s_n += 1
        s_x += x
        s_y += y
        s_xx += x * x
        s_xy += x * y
        s_i += a
        s_ii += a * a
        s_iy += a * y
        if s_n >= 16:
            den = s_n * s_xx - s_x * s_x
            if den > 0:
                fitted = (s_n * s_xy - s_x * s_y) / den
                if abs(fitted - 1.0) < 0.01:  # clocks never drift by 1 %; ignore wild early fits
                    rate = fitted
            den = s_n * s_ii - s_i * s_i
            if den > 0:
                fitted = (s_n * s_iy - s_i * s_y) / den
                if abs(fitted / period - 1.0) < 0.01:
                    pulse_period = fitted
    return pulse_of_frame


def _better_interpolation(
    frames: np.ndarray, ephys: np.ndarray, matched: np.ndarray
) -> tuple[str, float, float]:
    """Which interpolation predicts matched pulses better from their neighbours.

    For every matched frame whose two neighbours are matched, its pulse time
    is predicted as the midpoint of the neighbours' (frame clock) and by
    linear interpolation on the miniscope timestamps; the method with the
    smaller root-mean-square error wins (ties: frame clock).

    Returns
    -------
    method : str
        ``'frame_clock'`` or ``'timestamps'``.
    rms_clock_s, rms_stamps_s : float
        The two errors (NaN when no frame has both neighbours matched).
    """
    triple = matched[1:-1] & matched[:-2] & matched[2:]
    idx = np.flatnonzero(triple) + 1
    if idx.size == 0:
        return "frame_clock", float("nan"), float("nan")
    t_prev, t_mid, t_next = ephys[idx - 1], ephys[idx], ephys[idx + 1]
    f_prev, f_mid, f_next = frames[idx - 1], frames[idx], frames[idx + 1]
    clock = 0.5 * (t_prev + t_next)
    stamps = t_prev + (f_mid - f_prev) / (f_next - f_prev) * (t_next - t_prev)
    rms_clock = float(np.sqrt(np.mean((t_mid - clock) ** 2)))
    rms_stamps = float(np.sqrt(np.mean((t_mid - stamps) ** 2)))
    return ("frame_clock" if rms_clock <= rms_stamps else "timestamps"), rms_clock, rms_stamps


def low_confidence_periods(confident: np.ndarray) -> np.ndarray:
    """Runs of False in a boolean per-frame array.

    Returns
    -------
    ndarray of int64, shape (P, 2)
        Inclusive ``[first, last]`` index of each run.
    """
    low = ~np.asarray(confident, dtype=bool)
    if not low.any():
        return np.zeros((0, 2), np.int64)
    edges = np.diff(np.concatenate([[0], low.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return np.stack([starts, ends], axis=1).astype(np.int64)


def sync_timestamps(
    ttl_times_s: np.ndarray,
    frame_times_s: np.ndarray,
    dropped_before: np.ndarray | None = None,
    *,
    delete_indices: Sequence[int] = (),
    zero_time_s: float = 0.0,
    sync_tolerance: float = _DEFAULTS.sync_tolerance,
    sync_max_unmatched_fraction: float = _DEFAULTS.sync_max_unmatched_fraction,
    sync_interpolation: str = _DEFAULTS.sync_interpolation,
) -> SyncResult:
    """Ephys time of every written miniscope frame from a TTL train.

    Parameters
    ----------
    ttl_times_s : ndarray, shape (M,)
        Rising-edge times of the frame pulses on the ephys clock (s), in
        recording order.
    frame_times_s : ndarray, shape (T,)
        Miniscope timestamps of the written frames (s), increasing.
    dropped_before : ndarray of int, shape (T,), optional
        Frames the miniscope dropped just before each written frame; each
        dropped frame still had a pulse.
    delete_indices : sequence of int
        Pulses known to be spurious (0-based indices into ``ttl_times_s``),
        removed before matching.
    zero_time_s : float
        Subtracted from ephys times (the sample sheet's ``zero time (s)``).
    sync_tolerance : float
        Matching tolerance, fraction of the frame period (at most 0.5).
    sync_max_unmatched_fraction : float
        Largest fraction of frames without a pulse, and of pulses without a
        frame, that is accepted.
    sync_interpolation : {'auto', 'frame_clock', 'timestamps'}
        How frames without a pulse get their time between matched
        neighbours: in proportion to acquired-frame index (right when the
        sensor's frame clock is regular and the host timestamps jitter), or in
        proportion to the miniscope timestamps (right when the timestamps
        follow real irregularities of acquisition). ``'auto'`` picks the one
        that better predicts each matched pulse from its two matched
        neighbours (leave-one-out). Before the first / after the last matched
        frame, the fitted rate extrapolates from the nearest matched frame.

    Returns
    -------
    SyncResult

    Raises
    ------
    SyncError
        If the pulses and frames cannot be reconciled (too many unmatched on
        either side); the message gives both counts.
    ValueError
        For malformed inputs (non-finite or decreasing times, delete indices
        out of range).
    """
    if sync_interpolation not in ("auto", "frame_clock", "timestamps"):
        raise ValueError(
            f"sync_interpolation must be 'auto', 'frame_clock' or 'timestamps'; got {sync_interpolation!r}"
        )
    pulses, original_index, delete = _kept_pulses(ttl_times_s, delete_indices, zero_time_s)
    frames, positions = acquired_frame_times(frame_times_s, dropped_before)
    n_written, n_acquired, n_pulses = positions.size, frames.size, pulses.size
    counts = (
        f"{n_pulses} TTL pulses (after deleting {len(delete)}) vs {n_acquired} acquired miniscope frames "
        f"({n_written} written + {n_acquired - n_written} dropped)"
    )
    if n_pulses < 2:
        raise SyncError(f"cannot synchronise: {counts}; the TTL file has fewer than 2 pulses")

    measured = np.zeros(n_acquired, bool)  # frames whose miniscope timestamp is real (written)
    measured[positions] = True
    pulse_of_frame = match_pulses(pulses, frames, tolerance=sync_tolerance, measured=measured)
    matched = pulse_of_frame >= 0
    n_matched = int(matched.sum())
    n_missing, n_extra = n_acquired - n_matched, n_pulses - n_matched
    if (
        n_matched < 2
        or n_missing > sync_max_unmatched_fraction * n_acquired
        or n_extra > sync_max_unmatched_fraction * n_pulses
    ):
        raise SyncError(
            f"cannot reconcile {counts}: {n_matched} pulses match a frame, {n_missing} frames have no "
            f"pulse and {n_extra} pulses match no frame (more than sync_max_unmatched_fraction="
            f"{sync_max_unmatched_fraction:g}). Check that the file holds one rising edge per frame on "
            "the right TTL line, list known spurious pulses in 'indices of TTL events to delete', or "
            "check the 'zero time (s)'"
        )

    fit = matched & measured if (matched & measured).sum() >= 2 else matched
    rate, offset = np.polyfit(frames[fit], pulses[pulse_of_frame[fit]], 1)
    x, y = frames[fit], pulses[pulse_of_frame[fit]]
    residual_ms = float(np.sqrt(np.mean((y - (offset + rate * x)) ** 2)) * 1e3)

    acquired_ephys = np.empty(n_acquired, dtype=np.float64)
    acquired_ephys[matched] = pulses[pulse_of_frame[matched]]
    method = _fill_unmatched(acquired_ephys, frames, matched, measured, pulses[pulse_of_frame[matched]], rate,
                             sync_interpolation)

    confident = matched[positions]
    unmatched_pulses = np.setdiff1d(np.arange(n_pulses), pulse_of_frame[matched])
    extra = np.union1d(original_index[unmatched_pulses], np.asarray(delete, np.int64)).astype(np.int64)
    return SyncResult(
        ephys_time_s=acquired_ephys[positions],
        confident=confident,
        low_confidence_periods=low_confidence_periods(confident),
        drift_ppm=float((rate - 1.0) * 1e6),
        offset_s=float(offset),
        residual_ms=residual_ms,
        n_pulses=n_pulses,
        n_acquired=n_acquired,
        n_matched=n_matched,
        extra_pulses=extra,
        interpolation=method,
    )


def _kept_pulses(ttl_times_s: np.ndarray, delete_indices: Sequence[int], zero_time_s: float):
    """The checked pulses less the deleted ones, minus ``zero_time_s``; their indices in the file; the deleted."""
    ttl = np.asarray(ttl_times_s, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(ttl)):
        raise ValueError("TTL times contain NaN or infinite values")
    delete = sorted(set(int(i) for i in delete_indices))
    if delete and (delete[0] < 0 or delete[-1] >= ttl.size):
        raise ValueError(
            f"indices of TTL events to delete {delete} are out of range for {ttl.size} TTL pulses "
            f"(valid 0..{ttl.size - 1})"
        )
    keep = np.ones(ttl.size, bool)
    keep[delete] = False
    original_index = np.flatnonzero(keep)
    pulses = ttl[keep] - float(zero_time_s)
    if np.any(np.diff(pulses) < 0):
        raise ValueError("TTL times must be in increasing order (rising edges in recording order)")
    return pulses, original_index, delete


def _fill_unmatched(acquired_ephys: np.ndarray, frames: np.ndarray, matched: np.ndarray, measured: np.ndarray,
                    matched_pulses: np.ndarray, rate: float, sync_interpolation: str) -> str:
    """Give written frames without a pulse a time between their matched neighbours (in place); the method used.

    ``acquired_ephys`` holds the pulse time of every matched acquired frame; ``matched_pulses`` those times in
    frame order; ``rate`` the fitted ephys seconds per miniscope second.
    """
    missing = np.flatnonzero(~matched & measured)  # written frames without a pulse
    method = "none"
    if missing.size:
        method = sync_interpolation
        if method == "auto":
            method = _better_interpolation(frames, acquired_ephys, matched & measured)[0]
        if method == "frame_clock":
            # the frame clock is regular: position by acquired-frame index
            coord = np.arange(frames.size, dtype=np.float64)
            slope = np.polyfit(np.flatnonzero(matched), matched_pulses, 1)[0]
            anchors = matched
        else:
            # dropped frames' timestamps are only estimates: not used as anchors
            coord, slope = frames, rate
            anchors = matched & measured
            if anchors.sum() < 2:
                anchors = matched
        known = np.flatnonzero(anchors)
        after = np.searchsorted(known, missing)  # first anchor after each missing frame
        before = after - 1
        inner = (before >= 0) & (after < known.size)
        b_idx, a_idx = known[np.clip(before, 0, None)], known[np.clip(after, None, known.size - 1)]
        span = coord[a_idx] - coord[b_idx]
        frac = np.where(span > 0, (coord[missing] - coord[b_idx]) / np.where(span > 0, span, 1.0), 0.0)
        interp = acquired_ephys[b_idx] + frac * (acquired_ephys[a_idx] - acquired_ephys[b_idx])
        # before the first or after the last anchor: extrapolate from the nearest one
        nearest = np.where(before >= 0, b_idx, a_idx)
        extrap = acquired_ephys[nearest] + (coord[missing] - coord[nearest]) * slope
        acquired_ephys[missing] = np.where(inner, interp, extrap)
    return method
