"""Stage ``events``: calcium events of every accepted neuron (derivative peaks and / or deconvolution runs).

Names follow the seed's ``MiniscopePostprocessor`` (``derivative_for_estimates``,
``event_height``) where those exist; names that could collide with CaImAn's are
prefixed with the stage (``events_method``).

Inputs: ``estimates`` (evaluate), ``frames``, ``metadata``. Outputs: ``events``
(CSV), ``raster`` (PNG).
"""

from __future__ import annotations

from ace_neuro.postprocess.params import EventsOptions

NAME = "events"
OPTIONS = EventsOptions


def run(inputs, outputs, options: EventsOptions, *, threads: int = 1, log=None) -> None:
    """Detect the events of ``inputs.estimates`` and write ``outputs.events`` and ``outputs.raster``."""
    from ace_neuro.postprocess.events_step import run_events_step

    run_events_step(inputs.estimates, inputs.frames, inputs.metadata, outputs.events, outputs.raster, options=options)
