"""The ``processing/ophys`` tables and traces of a recording's NWB file (:func:`ace_neuro.io.nwb.write_nwb`).

* ``ImageSegmentation/PlaneSegmentation``: every component's footprint as a sparse ``pixel_mask`` ``(row, column,
  weight)`` with its ``accepted`` flag, ``snr`` and ``r_value``;
* ``Fluorescence`` (``C``, ``raw`` = ``C + YrA``) and ``Deconvolved`` (``S``): ``RoiResponseSeries`` ``(T, K)``,
  copied from the estimates file a block of frames at a time (:class:`TraceBlocks`);
* ``SummaryImages`` (the ``events`` table: :mod:`ace_neuro.io.nwb_events`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping

import h5py
import numpy as np
import tifffile
from hdmf.backends.hdf5 import H5DataIO
from hdmf.data_utils import GenericDataChunkIterator

__all__ = ["TraceBlocks", "SmallCacheDataIO", "check_length", "add_segmentation", "add_summary_images"]

logger = logging.getLogger(__name__)

_TRACE_BLOCK_FRAMES = 4096


def check_length(n: int, n_frames: int, path, frames_path) -> None:
    """Raise naming both files when ``path`` holds ``n`` frames and ``frames_path`` lists ``n_frames``."""
    if n != n_frames:
        raise ValueError(
            f"{path}: {n} frames but {frames_path} lists {n_frames}; the two come from different runs, "
            "re-run the workflow for this recording"
        )


class TraceBlocks(GenericDataChunkIterator):
    """Sum of ``(K, T)`` datasets of an estimates file, transposed to ``(T, K)``, a block of frames at a time."""

    def __init__(self, path: Path, names: tuple[str, ...]):
        self._file = h5py.File(path, "r")
        self._datasets = [self._file[name] for name in names]
        k, t = self._datasets[0].shape
        frames = min(t, _TRACE_BLOCK_FRAMES)
        super().__init__(chunk_shape=(frames, max(k, 1)), buffer_shape=(frames, max(k, 1)))

    def _get_data(self, selection):
        frames, rois = selection
        block = np.asarray(self._datasets[0][rois, frames], dtype=np.float32)
        for dataset in self._datasets[1:]:
            block += np.asarray(dataset[rois, frames], dtype=np.float32)  # in place: one block fewer alive
        return np.ascontiguousarray(block.T)

    def _get_maxshape(self):
        k, t = self._datasets[0].shape
        return (t, k)

    def _get_dtype(self):
        return np.dtype(np.float32)

    def close(self):
        self._file.close()


#: HDF5's chunk cache of a trace series while it is written (bytes): HDF5's own default, 1 MiB.
_TRACE_CHUNK_CACHE_BYTES = 2**20


class SmallCacheDataIO(H5DataIO):
    """:class:`hdmf.backends.hdf5.H5DataIO` whose dataset is written with HDF5's default chunk cache (1 MiB).

    hdmf opens the file with a 32 MiB chunk cache per dataset (``RDCC_NBYTES``), so a dataset written a whole
    chunk at a time keeps up to 32 MiB of uncompressed chunks until it is closed: more, the longer the recording,
    up to that cap (a trace series' chunk is 4,096 frames x K float32, 4.3 MB at K = 260). A chunk larger than the
    cache is compressed and written as it comes. The cache belongs to the open dataset, not to the file: the stored
    chunks, compression and values are the same.
    """

    @property
    def io_settings(self):
        return {**super().io_settings, "rdcc_nbytes": _TRACE_CHUNK_CACHE_BYTES}


def add_segmentation(ophys, plane, estimates_path, n_frames: int, frames_path, raw, opened: list):
    from pynwb.ophys import Fluorescence, ImageSegmentation, RoiResponseSeries

    estimates_path = Path(estimates_path)
    with h5py.File(estimates_path, "r") as h5:
        dims = tuple(int(v) for v in h5.attrs["dims"])
        n_comp, n_t = h5["C"].shape
        read = {name: h5[name][()] for name in ("SNR_comp", "r_values", "idx_components") if name in h5}
        a_data, a_indices, a_indptr = (h5["A"][k][()] for k in ("data", "indices", "indptr"))
    if "idx_components" not in read:
        raise ValueError(f"{estimates_path}: not evaluated (no idx_components); give evaluate/estimates.h5")
    check_length(n_t, n_frames, estimates_path, frames_path)

    segmentation = ImageSegmentation(name="ImageSegmentation")
    ophys.add(segmentation)
    table = segmentation.create_plane_segmentation(
        name="PlaneSegmentation",
        description="CNMF-E components (all of them; 'accepted' says which passed evaluation and curation). "
        "pixel_mask (x, y, weight) = (row, column, footprint value); ids are the components' indices.",
        imaging_plane=plane,
    )
    accepted = np.zeros(n_comp, bool)
    accepted[read["idx_components"].astype(np.int64)] = True
    columns = {
        "accepted": ("Passed evaluation (SNR, spatial r-value) and manual curation", bool),
        "snr": ("Event exceptionality SNR of the raw trace (CaImAn's SNR_comp)", np.float64),
        "r_value": ("Spatial correlation of the footprint with the movie (CaImAn's r_values)", np.float64),
    }
    for column, (text, dtype) in columns.items():
        # An empty table needs typed (empty) data: pynwb cannot infer a dtype from no rows.
        table.add_column(column, text, **({"data": np.zeros(0, dtype)} if n_comp == 0 else {}))
    snr = read.get("SNR_comp", np.full(n_comp, np.nan))
    r_values = read.get("r_values", np.full(n_comp, np.nan))
    height = dims[0]
    for k in range(n_comp):
        pixels = a_indices[a_indptr[k] : a_indptr[k + 1]].astype(np.int64)
        weights = a_data[a_indptr[k] : a_indptr[k + 1]]
        mask = [(int(p % height), int(p // height), float(w)) for p, w in zip(pixels, weights)]
        table.add_roi(
            id=k, pixel_mask=mask, accepted=bool(accepted[k]), snr=float(snr[k]), r_value=float(r_values[k])
        )
    if n_comp == 0:
        logger.warning("nwb: no components; the segmentation table is empty and no traces are written")
        return table

    rois = table.create_roi_table_region(region=list(range(n_comp)), description="all CNMF-E components")
    fluorescence = Fluorescence(name="Fluorescence")
    deconvolved = Fluorescence(name="Deconvolved")
    ophys.add(fluorescence)
    ophys.add(deconvolved)
    for container, name, names, description in (
        (fluorescence, "C", ("C",), "Denoised calcium traces C (CNMF-E, OASIS), movie intensity units"),
        (fluorescence, "raw", ("C", "YrA"), "Raw traces C + YrA (denoised trace plus residual), movie intensity units"),
        (deconvolved, "S", ("S",), "Deconvolved activity S (OASIS spike estimate, arbitrary scale)"),
    ):
        blocks = TraceBlocks(estimates_path, names)
        opened.append(blocks)
        container.add_roi_response_series(
            RoiResponseSeries(
                name=name,
                data=SmallCacheDataIO(blocks, compression="gzip", compression_opts=4, shuffle=True),
                unit="a.u.",
                rois=rois,
                timestamps=raw,
                description=description,
            )
        )
    return table


def add_summary_images(ophys, summary_images: Mapping[str, str | os.PathLike]) -> None:
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage

    images = Images(name="SummaryImages", description="Projections of the converted movie and CNMF-E seeding images")
    for name, path in summary_images.items():
        image = np.asarray(tifffile.imread(path), dtype=np.float32)
        if image.ndim != 2:
            raise ValueError(f"{path}: expected a single image (H, W), got shape {image.shape}")
        images.add_image(GrayscaleImage(name=name, data=image, description=f"{name} image, from {Path(path).name}"))
    ophys.add(images)
