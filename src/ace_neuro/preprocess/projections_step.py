"""The ``projections`` rule's files: the converted movie in; projection images and the mean-fluorescence series out."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ace_neuro.allocator import keep_freed_memory
from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.images import write_image_pngs, write_image_tiff
from ace_neuro.io.movie import open_movie
from ace_neuro.preprocess.projections import compute_projections
from ace_neuro.progress import Progress
from ace_neuro.preprocess.params import ProjectionsOptions
from ace_neuro.preprocess.figures import plot_series

__all__ = ["run_projections_step"]

log = logging.getLogger(__name__)


def run_projections_step(
    movie_path: str | os.PathLike,
    frames_path: str | os.PathLike,
    *,
    images: Mapping[str, str | os.PathLike],
    previews: Mapping[str, str | os.PathLike],
    series_csv: str | os.PathLike,
    series_png: str | os.PathLike,
    options: ProjectionsOptions | None = None,
    **names: Any,
) -> None:
    """Write each projection as TIFF and PNG, and the mean-fluorescence series as CSV and PNG.

    Parameters
    ----------
    movie_path : path-like
        The converted movie (``convert/movie.tif``), shape (T, H, W).
    frames_path : path-like
        ``convert/frames.csv`` (gives each frame's time).
    images, previews : mapping of str to path-like
        Output TIFF (float32, H x W) and PNG of each projection, by name
        (:data:`ace_neuro.stages.projections.PROJECTION_NAMES`).
    series_csv, series_png : path-like
        ``frame, time_s, mean_fluorescence`` table and its plot.
    options : ProjectionsOptions, optional
        The step's parameters (:class:`~ace_neuro.preprocess.params.ProjectionsOptions`); defaults when omitted.
    **names
        Parameters by name, overriding ``options`` (checked the same way).
    """
    options = ProjectionsOptions.from_params(options, **names)
    movie = open_movie(movie_path)
    frames = pd.read_csv(frames_path)
    if len(frames) != movie.shape[0]:
        raise ValueError(f"{frames_path}: {len(frames)} rows but {movie_path} has {movie.shape[0]} frames; re-run convert")
    progress = Progress(movie.shape[0], "projections", log)
    keep_freed_memory(log)  # each chunk's float64 arrays reused, not faulted in again (sys time 4.7 -> 0.8 s at 608x608 x 1,500)
    projections = compute_projections(movie, int(options.median_max_frames), progress=progress)
    computed = projections.images()
    for name in images:
        if name not in computed:
            raise ValueError(f"projections: unknown projection {name!r}; known: {', '.join(computed)}")
        write_image_tiff(images[name], computed[name])
    write_image_pngs({previews[name]: (computed[name], f"{name} projection") for name in images})
    series = pd.DataFrame(
        {"frame": frames["frame"], "time_s": frames["time_s"], "mean_fluorescence": projections.mean_fluorescence}
    )
    with atomic_path(series_csv) as tmp:
        series.to_csv(tmp, index=False)
    plot_series(Path(series_png), series["time_s"], series["mean_fluorescence"], "mean fluorescence")
    log.info("projections of %d frames written", movie.shape[0])
