"""Stage ``convert``: a raw Miniscope folder to one memory-mappable movie, its metadata and frame times.

Inputs (named as in the rule): ``files`` (every raw file of the recording, so
that a changed, added or removed file re-runs the stage). Outputs: ``movie``
(uint8 ImageJ TIFF, T x H x W), ``metadata`` (merged JSON), ``frames`` (one row
per frame; frames corrupted in transmission flagged and, by default, held). Extra: ``directory``, the recording folder from the sample sheet.
"""

from __future__ import annotations

from ace_neuro.io.params import ConvertOptions

NAME = "convert"
OPTIONS = ConvertOptions


def run(inputs, outputs, options: ConvertOptions, *, threads: int = 1, log=None, directory: str) -> None:
    """Decode the recording in ``directory`` into ``outputs.movie``, ``outputs.metadata`` and ``outputs.frames``."""
    from ace_neuro.io.convert import convert_recording

    convert_recording(
        directory,
        outputs.movie,
        outputs.metadata,
        outputs.frames,
        options,
        threads=threads,
    )
