"""Stage ``sync``: miniscope frame times in electrophysiology time from TTL pulses.

The sample-sheet columns that drive it (``ephys TTL file``, ``indices of TTL
events to delete``, ``zero time (s)``) describe the recording, not the method:
they arrive as the extras ``delete_indices`` and ``zero_time``.

Inputs: ``ttl``, ``frames``. Outputs: ``frames`` (frames_ephys_time.csv),
``periods`` (low_confidence_periods.csv), ``summary`` (JSON), ``figure`` (PNG, the
alignment residuals and frame intervals).
"""

from __future__ import annotations

from typing import Any

from ace_neuro.params import Param

NAME = "sync"

PARAMETERS: tuple[Param, ...] = (
    Param(
        "run_sync",
        True,
        "boolean",
        "Align the frames to the ephys TTL file where the sheet gives one; false skips the sync step "
        "(a sheet column switches it per recording).",
        "sync",
    ),
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


def run(inputs, outputs, params, *, threads: int = 1, log=None, delete_indices: Any = None, zero_time: Any = None) -> None:
    """Map ``inputs.frames`` to ephys time with the pulses of ``inputs.ttl``."""
    from ace_neuro.postprocess.sync_step import run_sync_step

    # the stage's parameters are run_sync_step's keywords, by name (run_sync, the switch, chose the rule)
    method = {name: value for name, value in params.items() if name != "run_sync"}
    run_sync_step(
        inputs.ttl,
        inputs.frames,
        outputs.frames,
        outputs.periods,
        outputs.summary,
        delete_indices=delete_indices,
        zero_time=zero_time,
        **method,
    )
    from ace_neuro.report import plot_sync

    plot_sync(outputs.frames, outputs.summary, outputs.figure)
