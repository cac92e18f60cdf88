"""The two movies of a recording's NWB file: linked to their files, or stored inside, streamed.

* ``acquisition/OnePhotonSeries``, the raw movie: by default an external link to the
  Miniscope's ``.avi`` files; with ``inside=True`` (the DANDI-ready file) the frames
  themselves, ``uint8`` as recorded, copied from the convert step's ``movie.tif``.
* ``processing/ophys/MotionCorrectedOnePhotonSeries``: by default an external link to the
  motion step's memory map or frame-block file; inside (float32) with ``include_movie``;
  left out of a DANDI-ready file that does not include it (a link to a file only this
  package reads is of no use on DANDI).

Frames stored inside are written by hdmf's :class:`~hdmf.data_utils.GenericDataChunkIterator`,
a few HDF5 chunks of whole frames at a time, gzip-compressed, so memory is set by the chunk
size (``chunk_mb``), not by the recording's length.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from hdmf.data_utils import GenericDataChunkIterator

from ace_neuro.io.memmap import parse_blocks_name, release_pages
from ace_neuro.io.movie import open_movie
from ace_neuro.progress import Progress

__all__ = ["add_raw_series", "add_motion_movie", "MovieChunks"]

logger = logging.getLogger(__name__)

#: gzip level of the frames stored inside: every HDF5 reader has gzip, and higher levels gain little on movies.
_GZIP_LEVEL = 4
#: HDF5 chunks of frames read and compressed per pass of the iterator.
_CHUNKS_PER_BUFFER = 4


class MovieChunks(GenericDataChunkIterator):
    """Frames ``(T, H, W)`` of a movie file, read a few HDF5 chunks of whole frames at a time.

    Parameters
    ----------
    path : path-like
        A movie :func:`ace_neuro.io.movie.open_movie` reads: the convert step's
        ``movie.tif`` (uint8), a CaImAn memory map or a frame-block file (float32).
    chunk_mb : float
        Size of one HDF5 chunk (whole frames, at least one), MB.
    dtype : numpy dtype, optional
        The stored dtype; default the file's own (float32 for the motion step's
        movies, uint8 for the converted one). Values are copied unchanged.
    label : str
        First word of the progress lines.
    """

    def __init__(self, path: str | os.PathLike, chunk_mb: float, dtype=None, label: str = "nwb movie"):
        self._path = Path(path)
        self._movie = open_movie(self._path)
        self._dtype = np.dtype(dtype or self._movie.dtype)
        t, h, w = self._movie.shape
        frames = int(max(1, min(t, chunk_mb * 1e6 // (h * w * self._dtype.itemsize))))
        self._progress = Progress(t, label, logger)
        super().__init__(chunk_shape=(frames, h, w), buffer_shape=(min(t, frames * _CHUNKS_PER_BUFFER), h, w),
                         display_progress=False)

    def _get_data(self, selection):
        frames = selection[0]
        if isinstance(self._movie, np.ndarray) and self._movie.strides[0] == self._movie[0].nbytes:
            # frame-major (TIFF): a contiguous read, then the mapped pages are released
            block = np.array(self._movie[frames], dtype=self._dtype)
            release_pages(self._movie)
        else:
            from ace_neuro.movies import read_frames  # bands of columns: a pixel-major map stays unmapped

            block = read_frames(self._movie, frames).astype(self._dtype, copy=False)
        self._progress.update(block.shape[0])
        return np.ascontiguousarray(block[:, selection[1], selection[2]])

    def _get_maxshape(self):
        return tuple(int(s) for s in self._movie.shape)

    def _get_dtype(self):
        return self._dtype


def _compressed(chunks: MovieChunks):
    from hdmf.backends.hdf5 import H5DataIO

    return H5DataIO(chunks, compression="gzip", compression_opts=_GZIP_LEVEL)


def _relative(path: Path, nwb_path: Path) -> str:
    return os.path.relpath(Path(path).resolve(), Path(nwb_path).resolve().parent)


def add_raw_series(nwbfile, plane, metadata: Mapping[str, Any], frames: pd.DataFrame, nwb_path: Path, *,
                   raw_movie_path: str | os.PathLike | None = None, chunk_mb: float = 8.0):
    """Add the raw movie as ``acquisition/OnePhotonSeries``: linked ``.avi`` files, or the frames inside.

    Parameters
    ----------
    nwbfile : pynwb.NWBFile
    plane : pynwb.ophys.ImagingPlane
    metadata : mapping
        ``convert/metadata.json`` (``device_directory``, ``frame_shape``).
    frames : DataFrame
        ``convert/frames.csv`` (``time_s``, ``file``).
    nwb_path : Path
        The file being written (links are relative to its folder).
    raw_movie_path : path-like, optional
        The convert step's ``movie.tif`` (uint8, ``(T, H, W)``); given, its frames are
        stored inside the file (chunked, gzip) instead of linking the ``.avi`` files.
    chunk_mb : float
        HDF5 chunk of the frames stored inside, MB.

    Returns
    -------
    pynwb.ophys.OnePhotonSeries
        The series; the others share its time stamps.
    """
    from pynwb.ophys import OnePhotonSeries

    time_s = frames["time_s"].to_numpy(np.float64)
    common = dict(name="OnePhotonSeries", imaging_plane=plane, timestamps=time_s)
    stamps = ("time stamps in seconds from the first written frame (from timeStamps.csv; dropped frames leave "
              "gaps).")
    if raw_movie_path is not None:
        chunks = MovieChunks(raw_movie_path, chunk_mb, label="nwb raw movie")
        _check_frames(chunks.maxshape, len(time_s), metadata, raw_movie_path)
        series = OnePhotonSeries(
            data=_compressed(chunks), unit="n.a.",
            description=f"Raw movie as the Miniscope recorded it ({chunks.dtype}, frames x rows x columns, the "
            f"frames of the .avi files decoded, gzip-compressed in this file); {stamps}",
            **common,
        )
    else:
        device_dir = Path(metadata["device_directory"])
        names = frames["file"].to_numpy()
        starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
        height, width = (int(v) for v in metadata["frame_shape"])
        series = OnePhotonSeries(
            external_file=[_relative(device_dir / name, nwb_path) for name in names[starts]],
            starting_frame=[int(s) for s in starts], format="external", dimension=[height, width], unit="n.a.",
            description="Raw movie as the Miniscope software wrote it (8-bit, one .avi per file, paths relative "
            f"to this file); {stamps}",
            **common,
        )
    nwbfile.add_acquisition(series)
    return series


def _check_frames(shape: tuple[int, ...], n_frames: int, metadata: Mapping[str, Any], path) -> None:
    expected = tuple(int(v) for v in metadata["frame_shape"])
    if shape[0] != n_frames or tuple(shape[1:]) != expected:
        raise ValueError(
            f"{path}: movie of shape {tuple(shape)} but convert/frames.csv and metadata.json describe "
            f"({n_frames}, {expected[0]}, {expected[1]}); the two come from different runs, re-run the workflow "
            "for this recording"
        )


def add_motion_movie(ophys, plane, raw, movie_path: Path, nwb_path: Path, *, include: bool, link: bool = True,
                     chunk_mb: float = 8.0) -> bool:
    """Add the motion-corrected movie to ``ophys``: inside (float32, chunked, gzip), linked, or not at all.

    Parameters
    ----------
    ophys : pynwb.ProcessingModule
    plane : pynwb.ophys.ImagingPlane
    raw : pynwb.ophys.OnePhotonSeries
        The raw series (its time stamps are shared).
    movie_path : Path
        The motion step's CaImAn memory map (``.mmap``) or frame-block file (``.blocks``).
    nwb_path : Path
        The file being written (a link is relative to its folder).
    include : bool
        Store the frames inside the file.
    link : bool
        Without ``include``: link the movie file (True) or leave the movie out (False; a DANDI-ready file).
    chunk_mb : float
        HDF5 chunk of the frames stored inside, MB.

    Returns
    -------
    bool
        Whether the series was added.
    """
    from pynwb.ophys import OnePhotonSeries

    movie_frames, height, width = open_movie(movie_path).shape
    n_frames = len(raw.timestamps)
    if movie_frames != n_frames:
        raise ValueError(f"{movie_path}: {movie_frames} frames but convert/frames.csv lists {n_frames}; the two "
                         "come from different runs, re-run the workflow for this recording")
    if not include and not link:
        return False
    common = dict(name="MotionCorrectedOnePhotonSeries", imaging_plane=plane, unit="a.u.", timestamps=raw)
    if include:
        series = OnePhotonSeries(
            data=_compressed(MovieChunks(movie_path, chunk_mb, dtype=np.float32, label="nwb corrected movie")),
            description="Motion-corrected movie (float32, frames x rows x columns), the input of CNMF-E.",
            **common,
        )
    else:
        series = OnePhotonSeries(
            external_file=[_relative(movie_path, nwb_path)], starting_frame=[0], format="external",
            dimension=[height, width], description=_linked_movie_description(movie_path, height, width, movie_frames),
            **common,
        )
    ophys.add(series)
    return True


def _linked_movie_description(movie_path: Path, height: int, width: int, n_frames: int) -> str:
    """How to read the linked motion-corrected movie: a CaImAn memory map or a frame-block file."""
    if movie_path.suffix == ".mmap":
        layout = (
            "a CaImAn memory map, raw float32 without header, shape (rows*columns, frames) = "
            f"({height * width}, {n_frames}) in C order, pixel index row + column * rows; open it with "
            f"numpy.memmap(path, dtype='float32', shape=({height * width}, {n_frames})) or caiman.load_memmap(path)"
        )
    else:
        _, _, _, block, dtype = parse_blocks_name(movie_path)
        layout = (
            f"a frame-block file, raw {dtype.name} without header: consecutive blocks of {block} frames (the last "
            "one shorter), each a (rows*columns, frames in the block) array in C order, pixel index row + column * "
            "rows; open it with ace_neuro.io.movie.open_movie(path)"
        )
        if dtype == "uint8":
            layout += ("; the 8-bit movie's corrected frames rounded to the nearest grey level and clipped to 0-255 "
                       "(motion.blocks_dtype)")
    return (f"Motion-corrected movie, linked, not copied: the external file is {layout}. Write the file with "
            "nwb.include_movie to store the frames inside.")
