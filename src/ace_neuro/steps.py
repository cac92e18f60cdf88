"""File-in, file-out steps of the first stages (projections, preprocess) and the provenance record.

Each ``run_*`` function is what a workflow script calls: it reads its input
files, calls the array functions of :mod:`ace_neuro.preprocess`, and writes its
outputs atomically. They are equally usable from a notebook.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import tifffile

from ace_neuro import __version__
from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.frames import read_frame_rate
from ace_neuro.io.images import save_figure, write_image_png, write_image_tiff
from ace_neuro.io.movie import create_tiff, open_movie, release_pages
from ace_neuro.preprocess import (
    check_not_constant,
    compute_projections,
    crop_slices,
    parse_crop_coords,
    preprocessed_chunks,
)
from ace_neuro.progress import Progress

__all__ = [
    "run_projections_step",
    "run_preprocess_step",
    "write_provenance",
    "file_sha256",
]

log = logging.getLogger(__name__)


def run_projections_step(
    movie_path: str | os.PathLike,
    frames_path: str | os.PathLike,
    *,
    images: Mapping[str, str | os.PathLike],
    previews: Mapping[str, str | os.PathLike],
    series_csv: str | os.PathLike,
    series_png: str | os.PathLike,
    median_max_frames: int = 1000,
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
    median_max_frames : int
        The median uses at most this many frames spread over the recording.
    """
    movie = open_movie(movie_path)
    frames = pd.read_csv(frames_path)
    if len(frames) != movie.shape[0]:
        raise ValueError(f"{frames_path}: {len(frames)} rows but {movie_path} has {movie.shape[0]} frames; re-run convert")
    progress = Progress(movie.shape[0], "projections", log)
    projections = compute_projections(movie, int(median_max_frames), progress=progress)
    computed = projections.images()
    for name in images:
        if name not in computed:
            raise ValueError(f"projections: unknown projection {name!r}; known: {', '.join(computed)}")
        write_image_tiff(images[name], computed[name])
        write_image_png(previews[name], computed[name], title=f"{name} projection")
    series = pd.DataFrame(
        {"frame": frames["frame"], "time_s": frames["time_s"], "mean_fluorescence": projections.mean_fluorescence}
    )
    with atomic_path(series_csv) as tmp:
        series.to_csv(tmp, index=False)
    _plot_series(Path(series_png), series["time_s"], series["mean_fluorescence"], "mean fluorescence")
    log.info("projections of %d frames written", movie.shape[0])


def _plot_series(path: Path, time_s: Iterable[float], values: Iterable[float], label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.5), dpi=100)
    ax.plot(np.asarray(time_s), np.asarray(values), lw=0.7, color="k")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(label)
    fig.tight_layout()
    save_figure(fig, path)


def run_preprocess_step(
    movie_path: str | os.PathLike,
    metadata_path: str | os.PathLike,
    minimum_path: str | os.PathLike,
    maximum_path: str | os.PathLike,
    out_path: str | os.PathLike,
    params: Mapping[str, Any],
) -> None:
    """Crop, detrend and dF/F the movie into ``preprocess/movie.tif``.

    With the seed's defaults (no crop, no detrend, no dF/F) the output is a
    relative symbolic link to the input: same bytes, no copy. Cropping alone keeps the recorded
    dtype; detrending or dF/F writes float32.

    Raises
    ------
    ValueError
        A constant movie, a crop box outside the frame, or parameters that do
        not fit the movie; the message names the file and the fix.
    """
    movie_path, out_path = Path(movie_path), Path(out_path)
    movie = open_movie(movie_path)
    lo = tifffile.imread(minimum_path)
    hi = tifffile.imread(maximum_path)
    if params.get("crop"):
        rows, cols = crop_slices(parse_crop_coords(params["crop_coords"]), movie.shape[1:])
        lo, hi = lo[rows, cols], hi[rows, cols]
    check_not_constant(lo, hi, str(movie_path))

    if not params.get("crop") and not params.get("detrend_method") and not params.get("df_over_f"):
        # A relative symbolic link, not a hard link: a hard link shares the input's modification time, so
        # Snakemake touching one would make the other look updated.
        with atomic_path(out_path) as tmp:
            os.symlink(os.path.relpath(movie_path.resolve(), out_path.parent.resolve()), tmp)
        log.info("no preprocessing requested: %s is a symbolic link to %s (no copy)", out_path, movie_path)
        return

    frame_rate = read_frame_rate(metadata_path)
    progress = Progress(movie.shape[0], "preprocess", log)
    chunks = preprocessed_chunks(movie, params, frame_rate, name=str(movie_path), progress=progress)
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


def file_sha256(path: str | os.PathLike, block_bytes: int = 8 * 2**20) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(block_bytes):
            digest.update(block)
    return digest.hexdigest()


def write_provenance(
    path: str | os.PathLike,
    recording_id: str,
    recording_dir: str | os.PathLike,
    parameters: Mapping[str, Any],
    outputs: Iterable[str | os.PathLike],
    *,
    raw_files: Iterable[str | os.PathLike] | None = None,
) -> dict[str, Any]:
    """Record what made a recording's results: versions, parameters, input checksums, outputs.

    Parameters
    ----------
    path : path-like
        ``results/{id}/provenance.json``.
    recording_id : str
    recording_dir : path-like
        The raw recording folder; every file in it is listed with size and SHA-256.
    parameters : mapping
        ``{stage: {name: value}}`` as resolved for this recording.
    outputs : iterable of path-like
        Output files of the run (sizes are recorded).
    raw_files : iterable of path-like, optional
        The raw files convert read (each listed with size and SHA-256); default
        every file under ``recording_dir``.

    Returns
    -------
    dict
        What was written.
    """
    import cv2
    import scipy

    recording_dir = Path(recording_dir)
    if raw_files is None:
        files = sorted(p for p in recording_dir.rglob("*") if p.is_file())
    else:
        files = [Path(p) for p in raw_files]
    inputs = []
    for file in files:
        relative = os.path.relpath(file.resolve(), recording_dir.resolve())
        inputs.append({"path": relative, "bytes": file.stat().st_size, "sha256": file_sha256(file)})
    record = {
        "id": recording_id,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ace_neuro_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": {"numpy": np.__version__, "scipy": scipy.__version__, "opencv": cv2.__version__,
                      "tifffile": tifffile.__version__, "pandas": pd.__version__},
        "recording_directory": str(recording_dir.resolve()),
        "inputs": inputs,
        "parameters": parameters,
        "outputs": [{"path": str(p), "bytes": Path(p).stat().st_size if Path(p).is_file() else None} for p in outputs],
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))
    return record
