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

from ace_neuro.postprocess.params import SyncOptions

NAME = "sync"
OPTIONS = SyncOptions


def run(inputs, outputs, options: SyncOptions, *, threads: int = 1, log=None, delete_indices: Any = None, zero_time: Any = None) -> None:
    """Map ``inputs.frames`` to ephys time with the pulses of ``inputs.ttl``."""
    from ace_neuro.postprocess.sync_step import run_sync_step

    run_sync_step(
        inputs.ttl,
        inputs.frames,
        outputs.frames,
        outputs.periods,
        outputs.summary,
        delete_indices=delete_indices,
        zero_time=zero_time,
        options=options,
    )
    from ace_neuro.postprocess.figures import plot_sync

    plot_sync(outputs.frames, outputs.summary, outputs.figure)
