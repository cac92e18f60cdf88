"""The parameters of the postprocess steps: ``events``, ``spectral`` and ``sync``.

Each class declares its stage's parameters once (:func:`ace_neuro.options.option`)
and is valid by construction; the workflow's config, schema and sample-sheet
columns are generated from them (:mod:`ace_neuro.params`). Names follow the
seed's ``MiniscopePostprocessor`` (``derivative_for_estimates``,
``event_height``) and Prerau's multitaper code (``window_params``,
``num_tapers``, ``detrend_opt``, ``weighting``, ``min_nfft``); names that could
collide with CaImAn's are prefixed with the stage (``events_method``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ace_neuro.options import Options, ParameterError, option

__all__ = ["EventsOptions", "SpectralOptions", "SyncOptions"]


@dataclass(frozen=True)
class EventsOptions(Options):
    """Calcium event detection (:func:`ace_neuro.postprocess.events_step.run_events_step`)."""

    STAGE: ClassVar[str] = "events"

    events_method: str = option("both", "string", "Event detection: 'derivative' (peaks of a derivative of the trace), 'deconvolution' (runs of deconvolved activity S above threshold) or 'both'.", enum=("derivative", "deconvolution", "both"))
    derivative_for_estimates: str = option("first", "string", "Derivative of the trace searched for peaks by the derivative method (seed's name).", enum=("zeroth", "first", "second"))
    events_trace: str = option("denoised", "string", "Trace searched by the derivative method: 'denoised' (CNMF-E C) or 'raw' (C + YrA). The noise unit always comes from the raw trace.", enum=("denoised", "raw"))
    event_height: float = option(4.0, "number", "Derivative method: minimum peak height, in robust noise units (1.4826 * MAD) of the same derivative of the raw trace, or in trace units if events_threshold_mode is 'absolute'.", minimum=0.0)
    deconvolution_event_height: float = option(3.0, "number", "Deconvolution method: minimum summed deconvolved activity S of an event, in units of the raw trace's noise standard deviation, or in trace units if events_threshold_mode is 'absolute'.", minimum=0.0)
    events_threshold_mode: str = option("noise", "string", "'noise': thresholds are multiples of each neuron's robust noise; 'absolute': in trace units, as the seed did.", enum=("noise", "absolute"))
    event_distance_s: float = option(0.2, "number", "Minimum time between two events of one neuron (s); closer peaks keep the larger, closer deconvolution runs are merged.", minimum=0.0)


@dataclass(frozen=True)
class SpectralOptions(Options):
    """Multitaper spectrogram, band-pass and phase (:func:`ace_neuro.postprocess.spectral_step.run_spectral_step`)."""

    STAGE: ClassVar[str] = "spectral"

    window_params: tuple[float, ...] | None = option(None, ("array", "null"), "Multitaper spectrogram [window length, step] in seconds (Prerau's window_params); null = [30, 3], or for a recording under 30 s half its length stepped by a tenth (with a warning; the window used is saved). A window set here that is longer than the recording is an error.", items={"type": "number", "exclusiveMinimum": 0})
    freq_range: tuple[float, ...] = option([0.0, 15.0], "array", "Spectrogram [lowest, highest] frequency in Hz; the upper end is clipped to Nyquist.", items={"type": "number", "minimum": 0})
    time_bandwidth: float = option(2.0, "number", "Multitaper time-half-bandwidth product NW.", exclusive_minimum=0.0)
    num_tapers: int = option(3, "integer", "Number of DPSS tapers (at most 2 * time_bandwidth - 1 are well concentrated).", minimum=1)
    detrend_opt: str = option("constant", "string", "Detrending of each spectrogram window before tapering.", enum=("constant", "linear", "off"))
    weighting: str = option("unity", "string", "Taper weighting: 'unity' (plain mean) or 'eigen' (weighted by DPSS concentration eigenvalues).", enum=("unity", "eigen"))
    min_nfft: int = option(0, "integer", "Minimum FFT length; the FFT length is the next power of two >= max(window, min_nfft).", minimum=0)
    spectral_per_neuron: bool = option(False, "boolean", "Also compute a spectrogram of each accepted neuron's trace (needs CNMF-E results).")
    lowcut: float = option(0.1, "number", "Band-pass lower cut-off (Hz) of the Butterworth filter used for phase and filtered.csv.", exclusive_minimum=0.0)
    highcut: float = option(1.5, "number", "Band-pass upper cut-off (Hz); must be below Nyquist (frame rate / 2).", exclusive_minimum=0.0)
    filter_order: int = option(2, "integer", "Butterworth filter order (seed's n); applied forward and backward (zero phase).", minimum=1)

    @staticmethod
    def check(values: dict[str, Any]) -> dict[str, Any]:
        """Two-element ranges and a band whose lower edge is below its upper edge."""
        for name in ("window_params", "freq_range"):
            if values[name] is not None and len(values[name]) != 2:
                raise ParameterError(f"spectral.{name} must have two numbers, got {values[name]}")
        if values["freq_range"][0] >= values["freq_range"][1]:
            raise ParameterError(f"spectral.freq_range must be [low, high] with low < high, got {values['freq_range']}")
        if values["lowcut"] >= values["highcut"]:
            raise ParameterError(f"spectral.lowcut ({values['lowcut']} Hz) must be below highcut ({values['highcut']} Hz)")
        return values


@dataclass(frozen=True)
class SyncOptions(Options):
    """Miniscope frame times in ephys time from TTL pulses (:func:`ace_neuro.postprocess.sync_step.run_sync_step`)."""

    STAGE: ClassVar[str] = "sync"

    run_sync: bool = option(True, "boolean", "Align the frames to the ephys TTL file where the sheet gives one; false skips the sync step (a sheet column switches it per recording).")
    sync_tolerance: float = option(0.4, "number", "A TTL pulse matches a frame if it is within this fraction of the frame period of the time predicted for that frame.", maximum=0.5, exclusive_minimum=0.0)
    sync_max_unmatched_fraction: float = option(0.1, "number", "Error if more than this fraction of acquired frames lack a pulse, or of pulses match no frame.", minimum=0.0, maximum=1.0)
    sync_interpolation: str = option("auto", "string", "Frames without a pulse: interpolate between matched neighbours by acquired-frame index ('frame_clock'), by miniscope timestamps ('timestamps'), or whichever predicts the matched pulses better ('auto').", enum=("auto", "frame_clock", "timestamps"))
    sync_ttl_line: int | None = option(None, ("integer", "null"), "Open Ephys event folders: TTL line carrying the frame pulses (null: the only line present).", minimum=1)
