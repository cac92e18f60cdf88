"""The recording's viewing movies on the curation page, and the byte ranges a browser asks for to seek in them.

The opt-in ``movies`` step (:mod:`ace_neuro.movies.render`) writes H.264 MP4
files under ``results/{id}/movies/``; the page plays them in a ``<video>``
element. Browsers fetch a video in pieces (``Range: bytes=START-END``) and seek
only where the server answers such requests with ``206 Partial Content``;
:func:`byte_range` reads the header.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["MOVIE_TITLES", "recording_movies", "byte_range"]

#: The movies step's files (stem) and what the page calls them, in the order shown.
MOVIE_TITLES = {
    "neural_activity": "neural activity (A\u00b7C, ids at the centroids)",
    "motion_before_after": "before | after motion correction",
    "background": "background model",
    "without_neurons": "movie with the neurons blacked out",
}

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def recording_movies(results_dir: str | os.PathLike) -> dict[str, Path]:
    """``{name: path}`` of the H.264 movies in ``results_dir/movies`` (empty when the movies step has not run).

    Known names come first, in :data:`MOVIE_TITLES`' order, then any other
    ``.mp4`` by name.
    """
    folder = Path(results_dir) / "movies"
    if not folder.is_dir():
        return {}
    found = {path.stem: path for path in folder.glob("*.mp4") if path.is_file() and re.fullmatch(r"\w+", path.stem)}
    order = [name for name in MOVIE_TITLES if name in found] + sorted(set(found) - set(MOVIE_TITLES))
    return {name: found[name] for name in order}


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte (inclusive) a ``Range`` header asks for, or None for the whole file.

    Parameters
    ----------
    header : str or None
        The request's ``Range`` header: ``bytes=START-END``, ``bytes=START-``
        or ``bytes=-SUFFIX`` (the last SUFFIX bytes). A header naming several
        ranges, or another unit, is answered with the whole file (allowed by
        RFC 9110).
    size : int
        The file's size in bytes.

    Returns
    -------
    (int, int) or None

    Raises
    ------
    ValueError
        The range lies beyond the end of the file (the server answers 416).

    Examples
    --------
    >>> byte_range("bytes=0-", 1000)
    (0, 999)
    >>> byte_range("bytes=100-199", 1000)
    (100, 199)
    >>> byte_range("bytes=-10", 1000)
    (990, 999)
    >>> byte_range(None, 1000) is None
    True
    """
    match = _RANGE.match(header or "")
    if match is None or (match[1] == "" and match[2] == ""):
        return None
    if match[1] == "":  # the last N bytes
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            raise ValueError(f"range {header!r} is empty for a file of {size} bytes")
        return max(size - suffix, 0), size - 1
    start = int(match[1])
    end = min(int(match[2]), size - 1) if match[2] else size - 1
    if start >= size or end < start:
        raise ValueError(f"range {header!r} lies outside a file of {size} bytes")
    return start, end
