"""What the curation page shows, read from one recording's results folder, and the files it writes.

Read from ``results/{id}/``:

* ``evaluate/estimates.h5`` (our layout, docs/estimates.md): footprints ``A``
  (sparse), ``SNR_comp``, ``r_values``, the accept / reject decision and the
  evaluate parameters are read once; the traces ``C`` and ``YrA`` stay on disk
  and one component's rows are read when the page asks for them, so memory is
  the sparse footprints plus a few images, whatever the recording's length.
* ``evaluate/components.csv``: which decisions came from a curation file.
* ``cnmfe/correlation_image.tif``, ``projections/mean.tif`` and
  ``projections/max.tif``: the images under the outlines and the crop box.
* ``movies/*.mp4``: the viewing movies of the opt-in movies step, when made.

Written: the curation file that the evaluate step reads
(:func:`ace_neuro.cnmfe.evaluate.read_curation_file`; CSV ``component,decision``
or YAML ``accept: / reject:``) and a one-row sample-sheet fragment with
``crop_coords``, both atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import h5py
import numpy as np
import scipy.sparse
import tifffile

from ace_neuro.cnmfe.estimates_file import open_estimates_file
from ace_neuro.cnmfe.curation import CurationError, read_curation_edits
from ace_neuro.cnmfe.evaluate import classify_components
from ace_neuro.cnmfe.figures import footprint_contours
from ace_neuro.cnmfe.reasons import THRESHOLD_NAMES, decision_reasons
from ace_neuro.io.atomic import atomic_path
from ace_neuro.preprocess import crop_slices
from ace_neuro.cnmfe.params import EvaluateOptions
from ace_neuro.curate.movies import recording_movies
from ace_neuro.curate.paths import default_curation_path

__all__ = [
    "CurationData",
    "open_results",
    "default_curation_path",
    "write_curation_file",
    "crop_coords_from_box",
    "write_crop_file",
]


@dataclass
class CurationData:
    """One recording's components as the curation page needs them.

    Attributes
    ----------
    recording_id : str
        Name of the results folder.
    estimates_path : Path
        ``evaluate/estimates.h5``; traces are read from it per component.
    dims : (H, W)
        Frame size of the components (pixels).
    frame_rate : float
        Hz.
    n_frames : int
        Frames of each trace.
    A : scipy.sparse.csc_matrix, shape (H*W, K), float32
        Footprints, pixel ``row + col * H``.
    snr, r_values : ndarray of float64, shape (K,)
        Evaluation metrics (NaN where the file has none).
    auto_accepted : ndarray of bool, shape (K,)
        CaImAn's rule on the metrics with the evaluate parameters that made
        the file: the decision without any curation.
    manual : dict of int to bool
        Decisions of a curation file (``True`` = accept): the file being
        edited when it exists, else those applied to these results
        (``decided_by == "curation"`` in ``components.csv``).
    images : dict of str to (str, ndarray)
        ``name -> (title, (H, W) float32)`` images under the outlines.
    max_projection : ndarray (H0, W0) or None
        The converted movie's maximum projection, where a crop box is drawn
        (the frame ``crop_coords`` refers to).
    thresholds : dict of str to float
        ``min_SNR``, ``rval_thr``, ``SNR_lowest``, ``rval_lowest`` of the evaluate step.
    reasons, reason_codes : list of str, length K
        The automatic decision in words and its code
        (:func:`ace_neuro.cnmfe.reasons.decision_reasons`).
    curation_path : Path
        Where decisions are saved.
    crop_path : Path
        Where the crop box is saved.
    merges, splits : list
        Merge groups and split components of the curation file (or those
        applied to these results), in the cnmfe step's ids.
    n_found : int
        Components the cnmfe step found (``n_components`` less the parts of
        the splits applied to these results).
    movie_path : Path or None
        The motion-corrected movie the clips are cut from (``None`` when the
        motion step's file is gone).
    movies : dict of str to Path
        The recording's H.264 viewing movies (``movies/*.mp4``, the opt-in
        movies step; :func:`ace_neuro.curate.movies.recording_movies`).
    conventional_path : bool
        Whether ``curation_path`` is :func:`default_curation_path` of the
        results, which the next run reads without a sheet edit.
    """

    recording_id: str
    estimates_path: Path
    dims: tuple[int, int]
    frame_rate: float
    n_frames: int
    A: scipy.sparse.csc_matrix
    snr: np.ndarray
    r_values: np.ndarray
    auto_accepted: np.ndarray
    manual: dict[int, bool]
    images: dict[str, tuple[str, np.ndarray]]
    max_projection: np.ndarray | None
    curation_path: Path
    crop_path: Path
    thresholds: dict[str, float] = field(default_factory=dict)
    conventional_path: bool = False
    movie_path: Path | None = None
    merges: list[list[int]] = field(default_factory=list)
    splits: list[int] = field(default_factory=list)
    n_found: int = 0
    reasons: list[str] = field(default_factory=list)
    reason_codes: list[str] = field(default_factory=list)
    movies: dict[str, Path] = field(default_factory=dict)
    _contours: list | None = field(default=None, repr=False)

    @property
    def n_components(self) -> int:
        return int(self.A.shape[1])

    @property
    def accepted(self) -> np.ndarray:
        """Current decision of each component: the manual one where given, else the automatic one."""
        out = self.auto_accepted.copy()
        for k, accept in self.manual.items():
            out[k] = accept
        return out

    def contours(self) -> list[list[np.ndarray]]:
        """Outlines of every footprint (:func:`ace_neuro.cnmfe.figures.footprint_contours`), computed once."""
        if self._contours is None:
            self._contours = footprint_contours(self.A, self.dims)
        return self._contours

    def centroids(self) -> np.ndarray:
        """(K, 2) footprint-weighted (row, col) centres; NaN for an empty footprint."""
        height, width = self.dims
        pixel = np.arange(height * width)
        weights = self.A.T.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.column_stack([weights @ (pixel % height), weights @ (pixel // height)]) / (
                weights @ np.ones(height * width))[:, None]

    def traces(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Denoised trace ``C[k]`` and raw trace ``C[k] + YrA[k]``, float32 (T,), read from the file."""
        if not 0 <= int(k) < self.n_components:
            raise IndexError(f"component {k} does not exist; ids run from 0 to {self.n_components - 1}")
        with h5py.File(self.estimates_path, "r") as h5:
            denoised = h5["C"][int(k)].astype(np.float32)
            residual = h5["YrA"][int(k)].astype(np.float32)
        return denoised, denoised + residual

    def footprint_box(self, k: int, margin: int = 4) -> tuple[int, int, np.ndarray]:
        """Footprint ``k`` inside its bounding box widened by ``margin`` pixels: ``(top, left, (h, w) float32)``."""
        if not 0 <= int(k) < self.n_components:
            raise IndexError(f"component {k} does not exist; ids run from 0 to {self.n_components - 1}")
        height, width = self.dims
        span = slice(self.A.indptr[k], self.A.indptr[k + 1])
        pixels, values = self.A.indices[span], self.A.data[span]
        if pixels.size == 0:
            return 0, 0, np.zeros((1, 1), np.float32)
        rows, cols = pixels % height, pixels // height
        top, left = max(int(rows.min()) - margin, 0), max(int(cols.min()) - margin, 0)
        bottom, right = min(int(rows.max()) + margin + 1, height), min(int(cols.max()) + margin + 1, width)
        box = np.zeros((bottom - top, right - left), np.float32)
        box[rows - top, cols - left] = values
        return top, left, box


def _read_image(path: Path) -> np.ndarray | None:
    if not path.exists():
        return None
    image = np.asarray(tifffile.imread(path), dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"{path}: expected one 2-D image, got shape {image.shape}; re-run the step that wrote it")
    return image


def _read_estimates(path: Path) -> dict:
    """The small fields of an evaluated ``estimates.h5`` (docs/estimates.md); traces stay on disk."""
    with open_estimates_file(path, missing_hint="run the workflow up to the evaluate step first") as h5:
        if "idx_components" not in h5:
            raise ValueError(f"{path}: the components are not evaluated yet; give results/ID (evaluate/estimates.h5)")
        A = h5["A"]
        A = scipy.sparse.csc_matrix(
            (A["data"][()], A["indices"][()], A["indptr"][()]), shape=tuple(int(s) for s in A["shape"][()])
        )
        n_comp = A.shape[1]
        nan = np.full(n_comp, np.nan)
        params = h5["params"][()]
        return {
            "dims": tuple(int(d) for d in h5.attrs["dims"]),
            "frame_rate": float(h5.attrs["frame_rate"]),
            "n_frames": int(h5["C"].shape[1]),
            "A": A,
            "snr": h5["SNR_comp"][()].astype(np.float64) if "SNR_comp" in h5 else nan,
            "r_values": h5["r_values"][()].astype(np.float64) if "r_values" in h5 else nan,
            "params": json.loads(params.decode() if isinstance(params, bytes) else params),
        }


def _corrected_movie(results: Path) -> Path | None:
    """The motion step's corrected movie under ``results/motion/memmap``, or None when it is not there."""
    from ace_neuro.io.memmap import find_corrected_movie

    try:
        return Path(find_corrected_movie(results / "motion" / "memmap"))
    except (FileNotFoundError, ValueError):
        return None


def _curated_in_table(path: Path, n_components: int) -> set[int]:
    """Ids marked ``decided_by == curation`` in ``components.csv`` (empty when the file is absent)."""
    import pandas as pd

    if not path.exists():
        return set()
    table = pd.read_csv(path)
    if not {"id", "decided_by"} <= set(table.columns) or len(table) != n_components:
        raise ValueError(f"{path}: does not match evaluate/estimates.h5 ({n_components} components); re-run evaluate")
    return {int(k) for k in table.loc[table["decided_by"] == "curation", "id"]}


def _automatic_decisions(snr, r_values, evaluated, curated, params, thresholds) -> np.ndarray:
    """The evaluate step's decisions before curation: the file's, except where a curation file decided.

    Where the curation decided, the automatic decision is what the step's rule
    gives: CaImAn's thresholds, then the recorded vessel and border rejections.
    """
    auto = np.asarray(evaluated, bool).copy()
    if curated and np.all(np.isfinite(snr)) and np.all(np.isfinite(r_values)):
        good, _ = classify_components(snr, r_values, **thresholds)
        rule = np.zeros(auto.size, dtype=bool)
        rule[good] = True
        rule[[int(k) for k in (params.get("vessel_edge_components") or []) + (params.get("border_components") or [])
              + (params.get("motion_band_components") or []) + list(params.get("neuropil_components") or {})
              + list(params.get("fringe_components") or {})]] = False
        ids = sorted(curated)
        auto[ids] = rule[ids]
    return auto


def open_results(results_dir: str | os.PathLike, curation_file: str | os.PathLike | None = None) -> CurationData:
    """Read what the curation page shows from one recording's results folder.

    Parameters
    ----------
    results_dir : path-like
        ``results/{id}`` after the evaluate step.
    curation_file : path-like, optional
        Curation file to edit (``.csv`` or ``.yaml``); default
        ``results/{id}/curation/decisions.yaml`` (:func:`default_curation_path`),
        which the workflow reads without a sheet edit. When it exists its
        decisions are the starting point.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing or inconsistent results, or an invalid existing curation file;
        the message names the file.
    """
    results = Path(results_dir)
    if not results.is_dir():
        raise FileNotFoundError(f"{results}: results folder not found; give results/ID of a recording the workflow ran")
    recording_id = results.resolve().name
    estimates_path = results / "evaluate" / "estimates.h5"
    fields = _read_estimates(estimates_path)
    dims, n_comp = fields["dims"], fields["A"].shape[1]
    with h5py.File(estimates_path, "r") as h5:
        bad = h5["idx_components_bad"][()] if "idx_components_bad" in h5 else np.zeros(0, np.int64)
    evaluated = np.ones(n_comp, dtype=bool)
    evaluated[bad] = False

    params = fields["params"]
    thresholds = {p.name: float(params.get(p.name, p.default)) for p in EvaluateOptions.parameters() if p.name in THRESHOLD_NAMES}
    if params.get("r_values_min") is not None:
        thresholds["rval_thr"] = float(params["r_values_min"])
    if isinstance(params.get("snr_floor"), dict):  # the floor the step used (SNR_lowest or the length-aware one)
        thresholds["SNR_lowest"] = float(params["snr_floor"]["SNR_lowest_used"])
        if "min_SNR_used" in params["snr_floor"]:  # min_SNR for the SNR's window (snr_decay_time)
            thresholds["min_SNR"] = float(params["snr_floor"]["min_SNR_used"])
    curated = _curated_in_table(results / "evaluate" / "components.csv", n_comp)
    auto = _automatic_decisions(fields["snr"], fields["r_values"], evaluated, curated, params, thresholds)
    reasons, reason_codes = decision_reasons(fields["snr"], fields["r_values"], auto, params, thresholds)
    conventional = default_curation_path(results)
    curation_path = Path(curation_file) if curation_file is not None else conventional
    merged_into = {int(k): int(v) for k, v in (params.get("merged_into") or {}).items()}
    split_from = {int(k): int(v) for k, v in (params.get("split_from") or {}).items()}
    n_found = n_comp - len(split_from)  # components of the cnmfe step, before the splits of these results
    if curation_path.exists():
        edits = read_curation_edits(curation_path, n_found)
        manual, merges, splits = edits.decisions, [list(g) for g in edits.merges], list(edits.splits)
    else:  # start from the decisions, merges and splits applied to these results
        manual = {k: bool(evaluated[k]) for k in sorted(curated) if k not in merged_into}
        groups: dict[int, list[int]] = {}
        for member, keep in merged_into.items():
            groups.setdefault(keep, [keep]).append(member)
        merges, splits = [sorted(g) for g in groups.values()], sorted(set(split_from.values()))
    for member, keep in merged_into.items():
        reasons[member], reason_codes[member] = f"rejected: merged into component {keep} (curation)", "merged"
    for part, parent in split_from.items():
        reasons[part] = f"split from component {parent} (curation); {reasons[part]}"

    images: dict[str, tuple[str, np.ndarray]] = {}
    correlation = _read_image(results / "cnmfe" / "correlation_image.tif")
    if correlation is not None and correlation.shape == dims:
        images["correlation"] = ("correlation image", correlation)
    mean = _read_image(results / "projections" / "mean.tif")
    if mean is not None and mean.shape == dims:
        images["mean"] = ("mean image", mean)
    else:  # the recording was cropped: the motion template is the mean image of the frame CNMF-E saw
        template = _read_image(results / "motion" / "template.tif")
        if template is not None and template.shape == dims:
            images["mean"] = ("mean image (motion template, cropped frame)", template)
    if not images:
        raise FileNotFoundError(
            f"{results}: neither cnmfe/correlation_image.tif nor projections/mean.tif matches the components' "
            f"{dims[0]}x{dims[1]} frame; re-run the workflow for this recording"
        )
    return CurationData(
        recording_id=recording_id,
        estimates_path=estimates_path,
        dims=dims,
        frame_rate=fields["frame_rate"],
        n_frames=fields["n_frames"],
        A=fields["A"],
        snr=fields["snr"],
        r_values=fields["r_values"],
        auto_accepted=auto,
        reasons=reasons,
        reason_codes=reason_codes,
        manual=manual,
        images=images,
        max_projection=_read_image(results / "projections" / "max.tif"),
        curation_path=curation_path,
        crop_path=curation_path.with_name(f"{recording_id}_crop.csv"),
        conventional_path=curation_path.resolve() == conventional.resolve(),
        movie_path=_corrected_movie(results),
        movies=recording_movies(results),
        merges=merges,
        splits=splits,
        n_found=n_found,
        thresholds=thresholds,
    )


def write_curation_file(path: str | os.PathLike, decisions: Mapping[int, bool], n_components: int, *,
                        merges: Sequence[Sequence[int]] = (), splits: Sequence[int] = ()) -> Path:
    """Write manual decisions, merges and splits in the format the evaluate step reads, atomically.

    Parameters
    ----------
    path : path-like
        ``.csv`` (``component,decision`` rows, ``accept`` / ``reject``; no
        merges or splits) or ``.yaml`` / ``.yml`` (``accept: [...]``,
        ``reject: [...]``, ``merge: [[...], ...]``, ``split: [...]``).
    decisions : mapping of int to bool
        Component id -> ``True`` to accept, ``False`` to reject.
    n_components : int
        Components the cnmfe step found (ids in ``0 .. n_components - 1``;
        decisions may also name the new components of the splits).
    merges : sequence of sequences of int
        Groups of components to merge (:mod:`ace_neuro.cnmfe.refit`).
    splits : sequence of int
        Components to split in two.

    Returns
    -------
    Path
        ``path``, written only after its text read back with
        :func:`ace_neuro.cnmfe.curation.read_curation_edits` to the same
        decisions, merges and splits (a refused file changes nothing).
    """
    path = Path(path)
    items = sorted((int(k), bool(v)) for k, v in decisions.items())
    merges = sorted(sorted(int(k) for k in group) for group in merges)
    splits = sorted(int(k) for k in splits)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        if merges or splits:
            raise ValueError(f"{path}: merges and splits need a .yaml curation file (ace-neuro curate "
                             "--curation-file NAME.yaml, or the default results/ID/curation/decisions.yaml)")
        text = "component,decision\n" + "".join(f"{k},{'accept' if v else 'reject'}\n" for k, v in items)
    elif suffix in (".yaml", ".yml"):
        accept = ", ".join(str(k) for k, v in items if v)
        reject = ", ".join(str(k) for k, v in items if not v)
        text = f"accept: [{accept}]\nreject: [{reject}]\n"
        if merges:
            text += "merge: [" + ", ".join("[" + ", ".join(map(str, group)) + "]" for group in merges) + "]\n"
        if splits:
            text += "split: [" + ", ".join(map(str, splits)) + "]\n"
    else:
        raise ValueError(f"{path}: a curation file must end in .csv or .yaml")
    with tempfile.TemporaryDirectory(prefix="ace-neuro-curation-") as folder:
        check = Path(folder) / f"check{suffix}"
        check.write_text(text, encoding="utf-8")
        try:
            edits = read_curation_edits(check, n_components)
        except CurationError as err:
            raise ValueError(str(err).replace(str(check), str(path))) from None
    if (edits.decisions, [list(g) for g in edits.merges], list(edits.splits)) != (dict(items), merges, splits):
        raise RuntimeError(f"{path}: the text written does not read back to the decisions given")
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def crop_coords_from_box(rows: tuple[int, int], cols: tuple[int, int], frame_shape: tuple[int, int]) -> dict[str, int]:
    """The seed's ``crop_coords`` of a box given in numpy order.

    Parameters
    ----------
    rows, cols : (start, stop)
        Rows ``rows[0] .. rows[1] - 1`` and columns ``cols[0] .. cols[1] - 1``
        (from the top-left) are kept.
    frame_shape : (H, W)

    Returns
    -------
    dict with x0, y0, x1, y1
        x = column from the left, y = row counted from the bottom, so that
        :func:`ace_neuro.preprocess.crop_slices` gives back ``rows`` and ``cols``.

    Examples
    --------
    >>> crop_coords_from_box((7, 10), (2, 5), (10, 8))
    {'x0': 2, 'y0': 0, 'x1': 5, 'y1': 3}
    """
    height = int(frame_shape[0])
    coords = {"x0": int(cols[0]), "y0": height - int(rows[1]), "x1": int(cols[1]), "y1": height - int(rows[0])}
    crop_slices(coords, frame_shape)  # raises for an empty box or one outside the frame
    return coords


def write_crop_file(path: str | os.PathLike, recording_id: str, coords: Mapping[str, int]) -> Path:
    """Write a one-row sample-sheet fragment ``id,crop,crop_coords`` for the recording, atomically."""
    value = f"{coords['x0']},{coords['y0']},{coords['x1']},{coords['y1']}"
    with atomic_path(path) as tmp:
        Path(tmp).write_text(f'id,crop,crop_coords\n{recording_id},TRUE,"{value}"\n', encoding="utf-8")
    return Path(path)
