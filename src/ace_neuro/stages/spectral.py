"""Stage ``spectral``: multitaper spectrogram, band-pass and Hilbert phase of the mean fluorescence.

Names follow Prerau's multitaper code (``window_params``, ``num_tapers``,
``detrend_opt``, ``weighting``, ``min_nfft``) and the seed (``lowcut``,
``highcut``, ``filter_order``).

Inputs: ``series`` (mean_fluorescence.csv), ``frames``, ``metadata``,
``estimates`` (only with ``spectral_per_neuron``). Outputs: ``spectrogram``
(HDF5), ``phase``, ``filtered`` (CSV), ``image`` (PNG).
"""

from __future__ import annotations

import os
from typing import Any

from ace_neuro.params import Param, ParameterError

NAME = "spectral"

PARAMETERS: tuple[Param, ...] = (
    Param(
        "window_params",
        None,
        ("array", "null"),
        "Multitaper spectrogram [window length, step] in seconds (Prerau's window_params); null = [30, 3], "
        "or for a recording under 30 s half its length stepped by a tenth (with a warning; the window used is "
        "saved). A window set here that is longer than the recording is an error.",
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


def run(inputs, outputs, params, *, threads: int = 1, log=None) -> None:
    """Write the spectral outputs of ``inputs.series``."""
    from ace_neuro.postprocess.spectral_step import run_spectral_step

    estimates = getattr(inputs, "estimates", None)  # a list of 0 or 1 paths in the rule (spectral_estimates)
    if estimates is not None and not isinstance(estimates, (str, os.PathLike)):
        estimates = estimates[0] if len(estimates) else None
    # the stage's parameters are run_spectral_step's keywords, by name
    run_spectral_step(
        inputs.series,
        inputs.frames,
        inputs.metadata,
        outputs.spectrogram,
        outputs.phase,
        outputs.filtered,
        outputs.image,
        estimates_path=estimates,
        **params,
    )
