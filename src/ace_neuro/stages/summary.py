"""Stage ``summary``: one table of a recording's key numbers, for the report and for scripts.

Frames, dropped frames, duration, motion statistics, components found /
accepted, median SNR, events per neuron and, where sync ran, the clock drift
(see :func:`ace_neuro.report.recording_summary`).

Inputs: ``metadata`` (convert), ``motion`` (motion metrics.json), ``components``
(evaluate), ``events``, and ``sync`` (sync_summary.json) for recordings with an
ephys TTL file. Outputs: ``html`` (the report item), ``json``. Extra:
``recording_id``.
"""

from __future__ import annotations

NAME = "summary"

#: No parameters of its own.
OPTIONS = None


def run(inputs, outputs, options: None, *, threads: int = 1, log=None, recording_id: str) -> None:
    """Write the recording's summary table."""
    from ace_neuro.report import recording_summary, write_summary

    summary = recording_summary(
        recording_id=recording_id,
        metadata_path=inputs.metadata,
        motion_metrics_path=inputs.motion,
        components_path=inputs.components,
        events_path=inputs.events,
        sync_summary_path=inputs.get("sync") or None,
    )
    write_summary(summary, outputs.html, outputs.json)
