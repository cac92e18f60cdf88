"""The parameters of the opt-in ``movies`` step (:mod:`ace_neuro.movies.render`).

Declared once (:func:`ace_neuro.options.option`); the workflow's config, schema
and sample-sheet columns are generated from them (:mod:`ace_neuro.params`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ace_neuro.options import Options, option

__all__ = ["MoviesOptions"]


@dataclass(frozen=True)
class MoviesOptions(Options):
    """Which viewing movies, how fast, in what chunks (off unless ``write_movies``)."""

    STAGE: ClassVar[str] = "movies"

    write_movies: bool = option(False, "boolean", "Write the viewing movies (components A*C, background, neurons blacked out, motion before/after).")
    movies_speedup: int = option(5, "integer", "Frames averaged into one movie frame; the movie plays this many times faster than the recording.", minimum=1)
    movies_chunk_frames: int = option(500, "integer", "Frames read and rendered at a time (memory: a few times chunk x frame size x 4 bytes).", minimum=1)
    movies_accepted_only: bool = option(True, "boolean", "Draw (and black out) only the accepted components; false: every component CNMF-E found.")
