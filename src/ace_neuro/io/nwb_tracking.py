"""A session's NWB file with the subject's tracked cells: the same global ids in every session's file.

:func:`write_tracked_nwb` copies a session's NWB file (written by :func:`ace_neuro.io.nwb.write_nwb`), points its
external links (raw ``.avi`` files, the motion-corrected movie; relative paths) to the same files from the new
location, and adds, in ``processing/ophys``:

* ``ImageSegmentation/TrackedPlaneSegmentation``: one row per tracked cell of the subject, ``id`` = the tracked
  cell's global id (the row of ``tracked_cells.csv``), ``pixel_mask`` its footprint in this session's frame (as
  re-extracted), ``session_component`` (its id in this file's ``PlaneSegmentation``, -1 where the session did not
  find it), ``in_field`` and ``confidence`` (the registration's register score);
* ``TrackedFluorescence/C``, ``TrackedFluorescence/raw`` (``C + YrA``) and ``TrackedDeconvolved/S``: the
  re-extracted traces, on the session's frame times.

The session's own file is left as it is (the ``nwb`` rule's output), so adding a session to a subject writes
new tracked files without touching any session's own results.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from ace_neuro.io.atomic import atomic_path

__all__ = ["write_tracked_nwb", "relink_external_files"]

logger = logging.getLogger(__name__)


def relink_external_files(path: str | os.PathLike, *, old_folder: str | os.PathLike,
                          new_folder: str | os.PathLike) -> int:
    """Rewrite the relative ``external_file`` paths of every image series of an NWB file moved between folders.

    Returns the number of paths rewritten. Absolute paths are kept.
    """
    old_folder, new_folder = Path(old_folder).resolve(), Path(new_folder).resolve()
    found: list[h5py.Dataset] = []
    with h5py.File(path, "r+") as h5:
        h5.visititems(lambda name, obj: found.append(obj) if isinstance(obj, h5py.Dataset)
                      and name.rsplit("/", 1)[-1] == "external_file" else None)
        count = 0
        for dataset in found:
            values = [v.decode() if isinstance(v, bytes) else str(v) for v in dataset[()]]
            moved = [v if os.path.isabs(v) else os.path.relpath((old_folder / v).resolve(), new_folder) for v in values]
            if moved == values:
                continue
            if dataset.dtype.kind == "S" and max(len(v.encode()) for v in moved) > dataset.dtype.itemsize:
                raise ValueError(f"{path}: cannot rewrite {dataset.name} in place (fixed-length strings)")
            dataset[...] = np.array(moved, dtype=dataset.dtype)
            count += len(moved)
    return count


def write_tracked_nwb(session_nwb: str | os.PathLike, reextraction, out_path: str | os.PathLike, *,
                      confidence: np.ndarray | None = None) -> Path:
    """Copy ``session_nwb`` to ``out_path`` with the tracked cells and their re-extracted traces added.

    Parameters
    ----------
    session_nwb : path-like
        The session's own NWB file.
    reextraction : ace_neuro.tracking.reextract.Reextraction
        The session's re-extraction (ids, footprints, traces).
    out_path : path-like
        The new file (written under a temporary name, renamed when complete).
    confidence : ndarray (N,), optional
        Register score of each tracked cell.
    """
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO
    from pynwb.ophys import Fluorescence, RoiResponseSeries

    session_nwb, out_path = Path(session_nwb), Path(out_path)
    n = int(reextraction.tracked_cell_id.size)
    confidence = np.full(n, np.nan) if confidence is None else np.asarray(confidence, np.float64)
    with atomic_path(out_path) as tmp:
        shutil.copyfile(session_nwb, tmp)
        relink_external_files(tmp, old_folder=session_nwb.parent, new_folder=out_path.parent)
        with NWBHDF5IO(str(tmp), "a") as io:
            nwb = io.read()
            ophys = nwb.processing["ophys"]
            segmentation = ophys["ImageSegmentation"]
            own = segmentation["PlaneSegmentation"]
            n_frames = len(nwb.acquisition["OnePhotonSeries"].timestamps)
            if reextraction.C.shape[1] != n_frames:
                raise ValueError(f"{session_nwb} has {n_frames} frames, the re-extraction {reextraction.C.shape[1]}: "
                                 "they are not of the same session run; re-run the subject's reextract step")
            table = segmentation.create_plane_segmentation(
                name="TrackedPlaneSegmentation",
                description="The subject's tracked cells (union over its sessions), each with its footprint in this "
                "session's frame; id = tracked cell id, the same in every session's file; session_component = row "
                "id of PlaneSegmentation (-1 where this session did not find the cell). pixel_mask (x, y, weight) = "
                "(row, column, unit-norm footprint value).",
                imaging_plane=own.imaging_plane,
            )
            columns = {
                "session_component": ("id of the cell in PlaneSegmentation, -1 where not found", np.int64),
                "in_field": ("the footprint has pixels in this session's field of view", bool),
                "confidence": ("register score of the tracked cell (0-1)", np.float64),
            }
            for column, (text, dtype) in columns.items():
                table.add_column(column, text, **({"data": np.zeros(0, dtype)} if n == 0 else {}))
            A = reextraction.A.tocsc()
            height = reextraction.dims[0]
            for k in range(n):
                pixels = A.indices[A.indptr[k]:A.indptr[k + 1]].astype(np.int64)
                weights = A.data[A.indptr[k]:A.indptr[k + 1]]
                mask = [(int(p % height), int(p // height), float(w)) for p, w in zip(pixels, weights)]
                table.add_roi(id=int(reextraction.tracked_cell_id[k]), pixel_mask=mask,
                              session_component=int(reextraction.session_component[k]),
                              in_field=bool(reextraction.in_field[k]), confidence=float(confidence[k]))
            if n:
                rois = table.create_roi_table_region(region=list(range(n)), description="all tracked cells")
                fluorescence = Fluorescence(name="TrackedFluorescence")
                deconvolved = Fluorescence(name="TrackedDeconvolved")
                ophys.add(fluorescence)
                ophys.add(deconvolved)
                raw_series = nwb.acquisition["OnePhotonSeries"]
                for container, name, values, text in (
                    (fluorescence, "C", reextraction.C, "Denoised traces of the tracked cells, footprints fixed"),
                    (fluorescence, "raw", reextraction.raw, "Raw traces C + YrA of the tracked cells"),
                    (deconvolved, "S", reextraction.S, "Deconvolved activity S of the tracked cells (OASIS)"),
                ):
                    container.add_roi_response_series(RoiResponseSeries(
                        name=name, data=H5DataIO(np.ascontiguousarray(values.T), compression="gzip",
                                                 compression_opts=4),
                        unit="a.u.", rois=rois, timestamps=raw_series,
                        description=text + " (NaN for cells outside this session's field of view)."))
            io.write(nwb)
    logger.info("tracked NWB: %d tracked cells added to a copy of %s at %s", n, session_nwb, out_path)
    return out_path
