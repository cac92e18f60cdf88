"""The ``preprocess`` rule's files: the converted movie in; the cropped, debanded, detrended, dF/F movie (TIFF) out."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.frames import read_frame_rate
from ace_neuro.io.movie import create_tiff, open_movie, release_pages
from ace_neuro.preprocess.banding import choose_banding
from ace_neuro.preprocess.movie import PreprocessOptions, crop_slices, parse_crop_coords, preprocessed_chunks
from ace_neuro.preprocess.projections import check_movie_not_constant
from ace_neuro.progress import Progress

__all__ = ["run_preprocess_step"]

log = logging.getLogger(__name__)


def run_preprocess_step(
    movie_path: str | os.PathLike,
    metadata_path: str | os.PathLike,
    out_path: str | os.PathLike,
    options: PreprocessOptions | None = None,
) -> None:
    """Crop, remove banding, detrend and dF/F the movie into ``preprocess/movie.tif``.

    When nothing is to be done (no crop, no detrend, no dF/F, and no banding removed: ``remove_banding: off``, or
    ``auto`` on a movie without banding) the output is a relative symbolic link to the input: same bytes, no copy.
    Cropping and removing banding keep the recorded dtype (the debanded values rounded); detrending or dF/F writes
    float32. The banding
    measurement and what was removed are logged (one ``banding: {...}`` JSON line).

    Parameters
    ----------
    movie_path : path-like
        The converted movie (``convert/movie.tif``), shape (T, H, W).
    metadata_path : path-like
        ``convert/metadata.json`` (frame rate).
    out_path : path-like
        ``preprocess/movie.tif``.
    options : PreprocessOptions
        Crop, detrend and dF/F settings (the ``preprocess`` stage's parameters); None: the defaults (nothing).

    Raises
    ------
    ValueError
        A constant movie, a crop box outside the frame, or parameters that do
        not fit the movie; the message names the file and the fix.
    """
    options = PreprocessOptions() if options is None else options
    movie_path, out_path = Path(movie_path), Path(out_path)
    movie = open_movie(movie_path)
    rows, cols = slice(None), slice(None)
    if options.crop:  # the crop box is checked against the frame first
        rows, cols = crop_slices(parse_crop_coords(options.crop_coords), movie.shape[1:])
    # stops at the first frame that differs (a constant movie is read once); no need to wait for the projections
    check_movie_not_constant(movie[:, rows, cols], str(movie_path))
    banding, record = choose_banding(
        movie[:, rows, cols], options.remove_banding, banding_min_ratio=options.banding_min_ratio
    )
    _log_banding(record)

    if not options.crop and not options.changes_values and not banding:
        # A relative symbolic link, not a hard link: a hard link shares the input's modification time, so
        # Snakemake touching one would make the other look updated.
        with atomic_path(out_path) as tmp:
            os.symlink(os.path.relpath(movie_path.resolve(), out_path.parent.resolve()), tmp)
        log.info("nothing to preprocess (no crop, detrend, dF/F nor banding to remove): %s is a symbolic link to %s (no copy)",
                 out_path, movie_path)
        return

    frame_rate = read_frame_rate(metadata_path)
    progress = Progress(movie.shape[0], "preprocess", log)
    chunks = preprocessed_chunks(movie, frame_rate, options, name=str(movie_path), progress=progress, banding=banding)
    with atomic_path(out_path) as tmp:
        first_slice, first = next(chunks)
        out = create_tiff(tmp, (movie.shape[0],) + first.shape[1:], first.dtype, frame_rate)
        try:
            out[first_slice] = first
            release_pages(out)
            for chunk_slice, chunk in chunks:
                if not np.all(np.isfinite(chunk)):
                    raise ValueError(f"{movie_path}: preprocessing produced non-finite values at frames {chunk_slice}")
                out[chunk_slice] = chunk
                release_pages(out)
            out.flush()
        finally:
            del out
    log.info("preprocessed movie written to %s", out_path)


def _log_banding(record: dict) -> None:
    """Log the banding measurement (:func:`ace_neuro.preprocess.banding.choose_banding`): a sentence and a JSON line."""
    if record["remove_banding"] == "off":
        log.info("remove_banding: off (the movie's banding is not measured)")
    else:
        log.info(
            "row banding %.3g x and column banding %.3g x what pixel noise predicts (pixel noise sd %.3g grey levels, "
            "%d frames measured); remove_banding %s (threshold %.3g): %s",
            record["row_ratio"], record["column_ratio"], record["noise_sd"], record["frames_measured"],
            record["remove_banding"], record["banding_min_ratio"],
            " and ".join(record["removed"]) + " removed" if record["removed"] else "nothing removed",
        )
    log.info("banding: %s", json.dumps(record, sort_keys=True))
