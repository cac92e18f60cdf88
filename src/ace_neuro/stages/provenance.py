"""Stage ``provenance``: versions, every parameter as resolved, each raw file's size and SHA-256, the outputs.

Inputs: ``outputs`` (every output of the recording) and ``files`` (the raw
files). Output: ``provenance.json``. Extras: ``recording_id``, ``directory``,
``parameters`` (``{stage: {name: value}}``).
"""

from __future__ import annotations

from typing import Any, Mapping

NAME = "provenance"

#: No parameters of its own.
OPTIONS = None


def run(inputs, outputs, options: None, *, threads: int = 1, log=None, recording_id: str, directory: str,
        parameters: Mapping[str, Any]) -> None:
    """Write ``outputs[0]``, the provenance record of one recording."""
    from ace_neuro.provenance import write_provenance

    write_provenance(outputs[0], recording_id, directory, parameters, list(inputs.outputs), raw_files=list(inputs.files))
