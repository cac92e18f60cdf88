"""Ground truth: writing and reading ``ground_truth.h5`` (layout in ``docs/simulator.md``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np
import scipy.sparse as sp
from scipy import ndimage

from .. import __version__
from .config import SimulationConfig
from .model import SimulationModel

__all__ = ["GroundTruth", "load_ground_truth"]


def write_ground_truth(path: Path, model: SimulationModel, ephys: dict | None) -> None:
    """Write the model's ground truth (footprints, traces, spikes, motion, timing, TTL) to ``path`` (HDF5)."""
    cfg = model.config
    H, W, pad = cfg.height, cfg.width, cfg.pad
    Hc, Wc = model.canvas_shape
    K = model.footprints.shape[1]
    fov = (slice(pad, pad + H), slice(pad, pad + W))
    with h5py.File(path, "w") as f:
        f.attrs["frame_rate"] = cfg.frame_rate
        f.attrs["seed"] = cfg.seed
        f.attrs["config_json"] = cfg.to_json()
        f.attrs["version"] = __version__
        f.attrs["sign_convention"] = "frame_t(y, x) = clean_t(y - d_y, x - d_x); d > 0 moves content down/right"
        f.attrs["units"] = "intensities in grey levels (ADU); times in s; displacements in pixels (dy, dx)"
        fp = f.create_dataset("footprints", (K, H, W), np.float32, chunks=(1, H, W) if K else None,
                              compression="gzip" if K else None)
        csc = model.footprints.tocsc()
        for k in range(K):
            col = np.zeros(Hc * Wc, np.float32)
            lo, hi = csc.indptr[k], csc.indptr[k + 1]
            col[csc.indices[lo:hi]] = csc.data[lo:hi]
            fp[k] = col.reshape(Hc, Wc)[fov]
        f["neuron_centres"] = model.centres
        no_depth = np.zeros(K, np.float32)  # in focus (multi-session subjects pass their own footprints)
        f["neuron_depths"] = no_depth if model.depths is None else model.depths
        f["neuron_blur_px"] = no_depth if model.blur_px is None else model.blur_px
        f["calcium"] = model.calcium
        f["spikes"] = model.spikes
        f["spike_counts"] = model.spike_counts
        f["spike_rates_hz"] = model.spike_rates_hz
        f["decay_times_s"] = model.decay_times_s
        f["ar_coefficients"] = model.ar_coefs
        f["bleaching"] = model.bleach
        f["frame_times_s"] = model.frame_times_s
        f["frame_written"] = model.frame_written
        f["written_frame_index"] = np.flatnonzero(model.frame_written).astype(np.int64)
        m = f.create_group("motion")
        m["rigid_shifts"] = model.rigid
        m["nonrigid_field"] = model.nonrigid_field
        m["nonrigid_timecourse"] = model.nonrigid_timecourse
        b = f.create_group("background")
        b["baseline"] = model.baseline[fov]
        b["spatial"] = model.bg_spatial[(slice(None),) + fov]
        b["temporal"] = model.bg_temporal
        b["mean_frame"] = _mean_background(model)[fov]
        b["vessel_transmission"] = model.transmission[fov]
        _write_vessels(f, model, fov)
        f.attrs["noise_sd_adu"] = cfg.noise_sd_adu
        f.attrs["soma_brightness_adu"] = cfg.soma_brightness_adu
        f.attrs["spike_to_noise"] = cfg.spike_to_noise_ratio
        n = f.create_group("neuropil")
        M = model.neuropil_traces.shape[0]
        hc, wc = model.neuropil_shape
        blobs = n.create_dataset("footprints_coarse", (M, hc, wc), np.float32, chunks=(1, hc, wc) if M else None,
                                 compression="gzip" if M else None)
        np_csc = model.neuropil_coarse.tocsc()
        for m in range(M):  # one blob at a time: no dense (M, hc, wc) copy in memory
            blob = np.zeros(hc * wc, np.float32)
            lo, hi = np_csc.indptr[m], np_csc.indptr[m + 1]
            blob[np_csc.indices[lo:hi]] = np_csc.data[lo:hi]
            blobs[m] = blob.reshape(hc, wc)
        n["traces"] = model.neuropil_traces
        n.attrs["downsample"] = model.neuropil_downsample
        n.attrs["canvas_pad"] = pad
        n.attrs["canvas_shape"] = model.canvas_shape
        if ephys is not None:
            e = f.create_group("ephys")
            e["true_frame_times_s"] = ephys["true"]
            e["ttl_times_s"] = ephys["ttl"]
            e["missing_frame_index"] = ephys["missing"]
            e["extra_pulse_index"] = ephys["extra"]
            for key in ("drift_ppm", "offset_s", "jitter_s"):
                e.attrs[key] = ephys[key]


#: Relative standard deviation of the light transmission above which a pixel is on a flickering vessel border.
BORDER_FLICKER = 0.01


def vessel_flicker(model: SimulationModel, n_samples: int = 100) -> np.ndarray:
    """(Hc, Wc) float32 standard deviation over time of the transmission relative to rest (0 for static vessels).

    Estimated on at most ``n_samples`` acquired frames spread evenly over the recording.
    """
    vessels = model.vessels
    if not vessels.dynamic:
        return np.zeros(model.canvas_shape, np.float32)
    frames = np.unique(np.linspace(0, model.config.n_frames - 1, min(n_samples, model.config.n_frames)).astype(int))
    s1 = np.zeros(model.canvas_shape, np.float64)
    s2 = np.zeros(model.canvas_shape, np.float64)
    for t in frames:
        ratio = vessels.transmission(int(t)) / model.transmission
        s1 += ratio
        s2 += ratio * ratio
    mean = s1 / frames.size
    return np.sqrt(np.maximum(s2 / frames.size - mean * mean, 0.0)).astype(np.float32)


def _write_vessels(f: h5py.File, model: SimulationModel, fov) -> None:
    vessels = model.vessels
    g = f.create_group("vessels")
    H, W = model.config.height, model.config.width
    if vessels.distance:
        g["mask"] = vessels.rest_mask()[fov]
    else:
        g["mask"] = np.zeros((H, W), bool)
    flicker = vessel_flicker(model)[fov]
    g["flicker"] = flicker
    g["border_mask"] = flicker >= BORDER_FLICKER
    g["radius_scale"] = vessels.radius_scale
    g["wobble_px"] = vessels.wobble
    g["tree"] = vessels.tree
    g.attrs["border_flicker_threshold"] = BORDER_FLICKER


def _mean_background(model: SimulationModel) -> np.ndarray:
    """Time-average of the unmoved, unbleached background + neuropil on the canvas (Hc, Wc)."""
    Hc, Wc = model.canvas_shape
    mean_fluct = 1.0 + np.tensordot(model.bg_temporal.mean(axis=1), model.bg_spatial, axes=1)
    out = model.baseline * mean_fluct
    if model.neuropil_traces.shape[0]:
        hc, wc = model.neuropil_shape
        coarse = (model.neuropil_coarse @ model.neuropil_traces.mean(axis=1)).reshape(hc, wc).astype(np.float32)
        out = out + cv2.resize(coarse, (Wc, Hc), interpolation=cv2.INTER_LINEAR) * model.transmission
    return out.astype(np.float32)


@dataclass(frozen=True)
class GroundTruth:
    """Contents of ``ground_truth.h5`` (see ``docs/simulator.md``).

    Time-indexed arrays have one entry per frame of the current timeline: all acquired
    frames after :func:`load_ground_truth`, only the written ones after
    :meth:`for_written_frames`; ``frame_index`` gives the acquired index of each entry.
    """

    footprints: np.ndarray | sp.csr_matrix  #: (K, H, W) float32 (or sparse (K, H*W)), ADU per unit calcium
    neuron_centres: np.ndarray  #: (K, 2) float32, (y, x) pixels
    calcium: np.ndarray  #: (K, T) float32
    spikes: np.ndarray  #: (K, T) float32, AR(2) input amplitudes
    spike_counts: np.ndarray  #: (K, T) int16, number of spikes per frame
    ar_coefficients: np.ndarray  #: (K, 2) float32, g1, g2
    rigid_shifts: np.ndarray  #: (T, 2) float32, (dy, dx) pixels
    nonrigid_field: np.ndarray  #: (2, H, W) float32
    nonrigid_timecourse: np.ndarray  #: (T,) float32
    bleaching: np.ndarray  #: (T,) float32 multiplicative factor
    frame_times_s: np.ndarray  #: (T,) float64 acquisition times
    frame_written: np.ndarray  #: (T,) bool
    frame_index: np.ndarray  #: (T,) int64 acquired index of each entry
    background_baseline: np.ndarray  #: (H, W) float32
    background_spatial: np.ndarray  #: (r, H, W) float32
    background_temporal: np.ndarray  #: (r, T) float32
    background_mean: np.ndarray  #: (H, W) float32 time-mean of unbleached background + neuropil
    vessel_transmission: np.ndarray  #: (H, W) float32, 1 away from blood vessels
    neuropil_traces: np.ndarray  #: (M, T) float32
    frame_rate: float
    config: SimulationConfig
    version: str
    ephys: dict | None = None  #: true_frame_times_s, ttl_times_s, missing_frame_index, extra_pulse_index, attrs
    vessel_mask: np.ndarray | None = None  #: (H, W) bool, inside a vessel at rest
    vessel_border_mask: np.ndarray | None = None  #: (H, W) bool, transmission flickers by >= 1 % (sd)
    vessel_radius_scale: np.ndarray | None = None  #: (P, T) float32, diameter / resting diameter per segment
    spike_to_noise: float | None = None  #: mean peak dF of one spike / per-pixel noise sd
    neuron_depths: np.ndarray | None = None  #: (K,) float32, depth in depths of field (0 = in focus)
    neuron_blur_px: np.ndarray | None = None  #: (K,) float32, sigma of the neuron's point-spread function (px)

    def out_of_focus(self, min_blur_px: float = 1.0) -> np.ndarray:
        """(K,) bool: neurons blurred by a point-spread function of sigma at least ``min_blur_px``."""
        if self.neuron_blur_px is None:
            return np.zeros(self.n_neurons, bool)
        return np.asarray(self.neuron_blur_px) >= float(min_blur_px)

    @property
    def n_neurons(self) -> int:
        return int(self.footprints.shape[0])

    @property
    def written_frame_index(self) -> np.ndarray:
        """Acquired indices of the written frames (row i of the AVI movie = this[i])."""
        return self.frame_index[self.frame_written]

    def displacement(self, frame_index: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Displacement ``d = rigid + a(t) * field`` at pixels (rows, cols) of frame ``frame_index``.

        Parameters
        ----------
        frame_index : int
            Position in this object's timeline (acquired index after loading).
        rows, cols : array_like, shape (n,)
            Pixel coordinates (may be fractional: the field is interpolated bilinearly).

        Returns
        -------
        ndarray, shape (n, 2), float64
            ``(d_y, d_x)`` in pixels; ``frame(y, x) = clean(y - d_y, x - d_x)``.
        """
        T = self.rigid_shifts.shape[0]
        if not (0 <= frame_index < T):
            raise ValueError(f"frame_index {frame_index} is outside 0:{T}")
        rows = np.atleast_1d(np.asarray(rows, np.float64))
        cols = np.atleast_1d(np.asarray(cols, np.float64))
        if rows.shape != cols.shape:
            raise ValueError(f"rows {rows.shape} and cols {cols.shape} must have the same shape")
        coords = np.vstack([rows.ravel(), cols.ravel()])
        field_vals = np.stack([ndimage.map_coordinates(self.nonrigid_field[i], coords, order=1, mode="nearest")
                               for i in range(2)], axis=1)
        return self.rigid_shifts[frame_index][None, :].astype(np.float64) + \
            float(self.nonrigid_timecourse[frame_index]) * field_vals

    def for_written_frames(self) -> "GroundTruth":
        """Copy restricted to the frames that were written (the movie the pipeline sees)."""
        keep = self.frame_written
        return dataclasses.replace(
            self, calcium=self.calcium[:, keep], spikes=self.spikes[:, keep],
            spike_counts=self.spike_counts[:, keep], rigid_shifts=self.rigid_shifts[keep],
            nonrigid_timecourse=self.nonrigid_timecourse[keep], bleaching=self.bleaching[keep],
            frame_times_s=self.frame_times_s[keep], frame_written=self.frame_written[keep],
            frame_index=self.frame_index[keep], background_temporal=self.background_temporal[:, keep],
            neuropil_traces=self.neuropil_traces[:, keep],
            vessel_radius_scale=None if self.vessel_radius_scale is None else self.vessel_radius_scale[:, keep],
        )


def load_ground_truth(path: str | Path, sparse_footprints: bool = False) -> GroundTruth:
    """Read ``ground_truth.h5`` written by :func:`simulate_recording`.

    Parameters
    ----------
    path : str or Path
        The file, or the recording folder that contains it.
    sparse_footprints : bool
        Return ``footprints`` as a ``scipy.sparse.csr_matrix`` of shape (K, H*W) (row-major
        pixels) read one neuron at a time, instead of a dense (K, H, W) array; use it for
        large fields of view (300 neurons at 608x608 are 440 MB dense).

    Returns
    -------
    GroundTruth
    """
    path = Path(path)
    if path.is_dir():
        path = path / "ground_truth.h5"
    if not path.is_file():
        raise ValueError(f"ground truth file {path} does not exist; run `ace-neuro simulate` first")
    with h5py.File(path, "r") as f:
        for key in ("footprints", "calcium", "motion/rigid_shifts", "frame_written"):
            if key not in f:
                raise ValueError(f"{path} has no dataset {key!r}; it was not written by ace_neuro.simulate")
        ephys = None
        if "ephys" in f:
            g = f["ephys"]
            ephys = {k: g[k][()] for k in g} | {k: g.attrs[k] for k in g.attrs}
        written = f["frame_written"][()].astype(bool)
        return GroundTruth(
            footprints=_read_footprints(f["footprints"], sparse_footprints),
            neuron_centres=f["neuron_centres"][()], calcium=f["calcium"][()],
            spikes=f["spikes"][()], spike_counts=f["spike_counts"][()], ar_coefficients=f["ar_coefficients"][()],
            rigid_shifts=f["motion/rigid_shifts"][()], nonrigid_field=f["motion/nonrigid_field"][()],
            nonrigid_timecourse=f["motion/nonrigid_timecourse"][()], bleaching=f["bleaching"][()],
            frame_times_s=f["frame_times_s"][()], frame_written=written,
            frame_index=np.arange(written.size, dtype=np.int64),
            background_baseline=f["background/baseline"][()], background_spatial=f["background/spatial"][()],
            background_temporal=f["background/temporal"][()], background_mean=f["background/mean_frame"][()],
            vessel_transmission=f["background/vessel_transmission"][()],
            neuropil_traces=f["neuropil/traces"][()], frame_rate=float(f.attrs["frame_rate"]),
            config=SimulationConfig.from_json(f.attrs["config_json"]), version=str(f.attrs["version"]),
            ephys=ephys,
            vessel_mask=f["vessels/mask"][()] if "vessels" in f else None,
            vessel_border_mask=f["vessels/border_mask"][()] if "vessels" in f else None,
            vessel_radius_scale=f["vessels/radius_scale"][()] if "vessels" in f else None,
            spike_to_noise=float(f.attrs["spike_to_noise"]) if "spike_to_noise" in f.attrs else None,
            neuron_depths=f["neuron_depths"][()] if "neuron_depths" in f else None,
            neuron_blur_px=f["neuron_blur_px"][()] if "neuron_blur_px" in f else None,
        )


def _read_footprints(dataset: h5py.Dataset, sparse: bool) -> np.ndarray | sp.csr_matrix:
    if not sparse:
        return dataset[()]
    K, H, W = dataset.shape
    rows = []
    for k in range(K):
        rows.append(sp.csr_matrix(dataset[k].reshape(1, H * W)))
    return sp.vstack(rows, format="csr", dtype=np.float32) if K else sp.csr_matrix((0, H * W), dtype=np.float32)
