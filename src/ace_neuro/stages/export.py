"""Stage ``export``: the accepted neurons' traces as CSV (spreadsheets, R) and a MATLAB ``.mat`` file.

No parameters. Inputs: ``estimates`` (evaluate), ``frames``, ``metadata`` (convert) and, for recordings
with sync, ``frames_ephys``. Outputs: ``traces`` (``traces.csv``, denoised), ``raw`` (``traces_raw.csv``),
``mat`` (``traces.mat``); :mod:`ace_neuro.postprocess.export` and ``docs/outputs.md`` describe them.
Extra: ``recording_id``.
"""

from __future__ import annotations

NAME = "export"
OPTIONS = None


def run(inputs, outputs, options=None, *, threads: int = 1, log=None, recording_id: str = "") -> None:
    """Write ``outputs.traces``, ``outputs.raw`` and ``outputs.mat`` from the evaluated estimates."""
    from ace_neuro.postprocess.export import run_export_step

    run_export_step(inputs.estimates, inputs.frames, inputs.metadata, outputs.traces, outputs.raw, outputs.mat,
                    frames_ephys_path=inputs.get("frames_ephys") or None, recording_id=recording_id)
