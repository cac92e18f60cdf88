"""Stage ``events``: calcium events of every accepted neuron (derivative peaks and / or deconvolution runs).

Names follow the seed's ``MiniscopePostprocessor`` (``derivative_for_estimates``,
``event_height``) where those exist; names that could collide with CaImAn's are
prefixed with the stage (``events_method``).

Inputs: ``estimates`` (evaluate), ``frames``, ``metadata``. Outputs: ``events``
(CSV), ``raster`` (PNG).
"""

from __future__ import annotations

from ace_neuro.params import Param

NAME = "events"

PARAMETERS: tuple[Param, ...] = (
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


def run(inputs, outputs, params, *, threads: int = 1, log=None) -> None:
    """Detect the events of ``inputs.estimates`` and write ``outputs.events`` and ``outputs.raster``."""
    from ace_neuro.postprocess.events_step import run_events_step

    # the stage's parameters are run_events_step's keywords, by name
    run_events_step(inputs.estimates, inputs.frames, inputs.metadata, outputs.events, outputs.raster, **params)
