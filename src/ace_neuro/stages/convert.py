"""Stage ``convert``: a raw Miniscope folder to one memory-mappable movie, its metadata and frame times.

Inputs (named as in the rule): ``files`` (every raw file of the recording, so
that a changed, added or removed file re-runs the stage). Outputs: ``movie``
(uint8 ImageJ TIFF, T x H x W), ``metadata`` (merged JSON), ``frames`` (one row
per frame). Extra: ``directory``, the recording folder from the sample sheet.
"""

from __future__ import annotations

from ace_neuro.params import Param

NAME = "convert"

PARAMETERS: tuple[Param, ...] = (
    Param(
        "dropped_frame_gap",
        1.5,
        "number",
        "A time-stamp interval of at least this many frame periods marks dropped frames.",
        "convert",
        exclusive_minimum=1.0,
    ),
    Param(
        "convert_chunk_frames",
        256,
        "integer",
        "Frames decoded and written per chunk (memory: chunk x frame size).",
        "convert",
        minimum=1,
    ),
    Param(
        "filenames",
        None,
        ("string", "array", "integer", "null"),
        "Use only these .avi files: names ('3.avi') and/or 0-based natural-order indices or ranges ('0-4'), "
        "separated by ',' or ';' (the seed's filenames); null: all.",
        "convert",
    ),
)


def run(inputs, outputs, params, *, threads: int = 1, log=None, directory: str) -> None:
    """Decode the recording in ``directory`` into ``outputs.movie``, ``outputs.metadata`` and ``outputs.frames``."""
    from ace_neuro.io.convert import convert_recording

    convert_recording(
        directory,
        outputs.movie,
        outputs.metadata,
        outputs.frames,
        dropped_frame_gap=params["dropped_frame_gap"],
        chunk_frames=params["convert_chunk_frames"],
        filenames=params.get("filenames"),
    )
