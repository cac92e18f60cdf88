"""Parameters of the postprocessing stages: ``events``, ``spectral`` and ``sync``.

Names follow the seed's ``MiniscopePostprocessor`` (``derivative_for_estimates``,
``event_height``, ``time_bandwidth``, ``lowcut`` ...) and Prerau's multitaper
code (``window_params``, ``num_tapers``, ``detrend_opt``, ``weighting``,
``min_nfft``) where those exist; names that could collide with CaImAn's are
prefixed with the stage (``events_method``, ``sync_tolerance``).

The sample-sheet columns that drive ``sync`` (``ephys TTL file``,
``indices of TTL events to delete``, ``zero time (s)``) describe the recording,
not the method, so they are read per recording and are not parameters here.
"""

from __future__ import annotations

from ace_neuro.params import Param

__all__ = ["PARAMS", "EVENTS_PARAMS", "SPECTRAL_PARAMS", "SYNC_PARAMS"]

EVENTS_PARAMS: tuple[Param, ...] = (
    Param(
        "events_method",
        "both",
        "string",
        "Event detection: 'derivative' (peaks of a derivative of the trace), "
        "'deconvolution' (runs of deconvolved activity S above threshold) or 'both'.",
        "events",
        enum=("derivative", "deconvolution", "both"),
    ),
    Param(
        "derivative_for_estimates",
        "first",
        "string",
        "Derivative of the trace searched for peaks by the derivative method (seed's name).",
        "events",
        enum=("zeroth", "first", "second"),
    ),
    Param(
        "events_trace",
        "denoised",
        "string",
        "Trace searched by the derivative method: 'denoised' (CNMF-E C) or 'raw' (C + YrA). "
        "The noise unit always comes from the raw trace.",
        "events",
        enum=("denoised", "raw"),
    ),
    Param(
        "event_height",
        4.0,
        "number",
        "Derivative method: minimum peak height, in robust noise units (1.4826 * MAD) of the "
        "same derivative of the raw trace, or in trace units if events_threshold_mode is 'absolute'.",
        "events",
        minimum=0.0,
    ),
    Param(
        "deconvolution_event_height",
        3.0,
        "number",
        "Deconvolution method: minimum summed deconvolved activity S of an event, in units of the "
        "raw trace's noise standard deviation, or in trace units if events_threshold_mode is 'absolute'.",
        "events",
        minimum=0.0,
    ),
    Param(
        "events_threshold_mode",
        "noise",
        "string",
        "'noise': thresholds are multiples of each neuron's robust noise; 'absolute': in trace "
        "units, as the seed did.",
        "events",
        enum=("noise", "absolute"),
    ),
    Param(
        "event_distance_s",
        0.2,
        "number",
        "Minimum time between two events of one neuron (s); closer peaks keep the larger, "
        "closer deconvolution runs are merged.",
        "events",
        minimum=0.0,
    ),
)

SPECTRAL_PARAMS: tuple[Param, ...] = (
    Param(
        "window_params",
        [30.0, 3.0],
        "array",
        "Multitaper spectrogram [window length, step] in seconds (Prerau's window_params).",
        "spectral",
        items={"type": "number", "exclusiveMinimum": 0},
    ),
    Param(
        "freq_range",
        [0.0, 15.0],
        "array",
        "Spectrogram [lowest, highest] frequency in Hz; the upper end is clipped to Nyquist.",
        "spectral",
        items={"type": "number", "minimum": 0},
    ),
    Param(
        "time_bandwidth",
        2.0,
        "number",
        "Multitaper time-half-bandwidth product NW.",
        "spectral",
        exclusive_minimum=0.0,
    ),
    Param(
        "num_tapers",
        3,
        "integer",
        "Number of DPSS tapers (at most 2 * time_bandwidth - 1 are well concentrated).",
        "spectral",
        minimum=1,
    ),
    Param(
        "detrend_opt",
        "constant",
        "string",
        "Detrending of each spectrogram window before tapering.",
        "spectral",
        enum=("constant", "linear", "off"),
    ),
    Param(
        "weighting",
        "unity",
        "string",
        "Taper weighting: 'unity' (plain mean) or 'eigen' (weighted by DPSS concentration eigenvalues).",
        "spectral",
        enum=("unity", "eigen"),
    ),
    Param(
        "min_nfft",
        0,
        "integer",
        "Minimum FFT length; the FFT length is the next power of two >= max(window, min_nfft).",
        "spectral",
        minimum=0,
    ),
    Param(
        "spectral_per_neuron",
        False,
        "boolean",
        "Also compute a spectrogram of each accepted neuron's trace (needs CNMF-E results).",
        "spectral",
    ),
    Param(
        "lowcut",
        0.1,
        "number",
        "Band-pass lower cut-off (Hz) of the Butterworth filter used for phase and filtered.csv.",
        "spectral",
        exclusive_minimum=0.0,
    ),
    Param(
        "highcut",
        1.5,
        "number",
        "Band-pass upper cut-off (Hz); must be below Nyquist (frame rate / 2).",
        "spectral",
        exclusive_minimum=0.0,
    ),
    Param(
        "filter_order",
        2,
        "integer",
        "Butterworth filter order (seed's n); applied forward and backward (zero phase).",
        "spectral",
        minimum=1,
    ),
)

SYNC_PARAMS: tuple[Param, ...] = (
    Param(
        "sync_tolerance",
        0.4,
        "number",
        "A TTL pulse matches a frame if it is within this fraction of the frame period of the "
        "time predicted for that frame.",
        "sync",
        exclusive_minimum=0.0,
        maximum=0.5,
    ),
    Param(
        "sync_max_unmatched_fraction",
        0.1,
        "number",
        "Error if more than this fraction of acquired frames lack a pulse, or of pulses match no frame.",
        "sync",
        minimum=0.0,
        maximum=1.0,
    ),
    Param(
        "sync_interpolation",
        "auto",
        "string",
        "Frames without a pulse: interpolate between matched neighbours by acquired-frame index "
        "('frame_clock'), by miniscope timestamps ('timestamps'), or whichever predicts the "
        "matched pulses better ('auto').",
        "sync",
        enum=("auto", "frame_clock", "timestamps"),
    ),
    Param(
        "sync_ttl_line",
        None,
        ("integer", "null"),
        "Open Ephys event folders: TTL line carrying the frame pulses (null: the only line present).",
        "sync",
        minimum=1,
    ),
)

#: Every parameter of the three postprocessing stages.
PARAMS: tuple[Param, ...] = EVENTS_PARAMS + SPECTRAL_PARAMS + SYNC_PARAMS
