"""Rendering frames: the clean canvas of a frame, the motion warp, shot and read noise, row and column banding, uint8 quantisation."""

from __future__ import annotations

import cv2
import numpy as np

from .config import SimulationConfig
from .model import build_model, SimulationModel

__all__ = ["simulate_frames"]

#: Number of expected photons below which shot noise is drawn from the exact Poisson law.
_POISSON_EXACT_BELOW = 30.0


def _clean_frame(model: SimulationModel, t: int, out: np.ndarray) -> np.ndarray:
    """Bleached, unmoved clean fluorescence of acquired frame t on the canvas, written into out (Hc, Wc) float32.

    Element-wise operations and one sparse matrix-vector product per frame, so the value
    of a pixel never depends on which frames are rendered together.
    """
    Hc, Wc = model.canvas_shape
    out[...] = 1.0
    for j in range(model.bg_spatial.shape[0]):
        out += model.bg_temporal[j, t] * model.bg_spatial[j]
    out *= model.baseline
    if model.neuropil_traces.shape[0]:
        hc, wc = model.neuropil_shape
        coarse = (model.neuropil_coarse @ np.ascontiguousarray(model.neuropil_traces[:, t])).reshape(hc, wc)
        up = cv2.resize(coarse.astype(np.float32), (Wc, Hc), interpolation=cv2.INTER_LINEAR)
        up *= model.transmission
        out += up
    if model.footprints.shape[1]:
        out += (model.footprints @ np.ascontiguousarray(model.calcium[:, t])).reshape(Hc, Wc)
    if model.vessels.dynamic:  # vessels of this frame instead of the resting ones folded in above
        out *= model.vessels.transmission(t) / model.transmission
    out *= model.bleach[t]
    return out


def _clean_canvas(model: SimulationModel, start: int, stop: int) -> np.ndarray:
    """Bleached, unmoved clean fluorescence on the canvas, (n, Hc, Wc) float32."""
    out = np.empty((stop - start,) + model.canvas_shape, np.float32)
    for i in range(stop - start):
        _clean_frame(model, start + i, out[i])
    return out


def _warp(model: SimulationModel, canvas: np.ndarray, t: int, base_y: np.ndarray, base_x: np.ndarray) -> np.ndarray:
    """frame_t(y, x) = clean_t(y - d_y, x - d_x) on the (H, W) field of view."""
    d = model.rigid[t]
    a = model.nonrigid_timecourse[t]
    map_y = base_y - d[0] - a * model.nonrigid_field[0]
    map_x = base_x - d[1] - a * model.nonrigid_field[1]
    return cv2.remap(canvas, map_x, map_y, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def _add_noise(clean: np.ndarray, cfg: SimulationConfig, t: int) -> np.ndarray:
    """Shot + read noise for acquired frame t (its own generator), rounded and clipped to uint8.

    Shot and read noise are Gaussian together (variance ``g * clean + read**2``) except where
    fewer than 30 photons are expected, where the photon count is drawn from the Poisson law.
    """
    if cfg.noise > 0:
        rng = np.random.default_rng([cfg.seed, 7, t])
        g = cfg.gain_adu_per_photon * cfg.noise**2
        read = cfg.read_noise_adu * cfg.noise
        signal_adu = np.maximum(clean, 0.0)
        z = rng.standard_normal(clean.shape, dtype=np.float32)
        sd = signal_adu * g
        sd += read * read
        np.sqrt(sd, out=sd)
        sd *= z
        value = sd
        value += signal_adu
        low = signal_adu < _POISSON_EXACT_BELOW * g
        if low.any():
            value[low] = g * rng.poisson(signal_adu[low] / g) + read * z[low]
    else:
        value = clean.copy()
    _add_banding(value, cfg, t)
    np.rint(value, out=value)
    np.clip(value, 0, 255, out=value)
    return value.astype(np.uint8)


def _add_banding(value: np.ndarray, cfg: SimulationConfig, t: int) -> None:
    """Add frame t's row and column offsets (``row_noise_adu``, ``column_noise_adu``) in place (own generator)."""
    if cfg.row_noise_adu <= 0 and cfg.column_noise_adu <= 0:
        return
    rng = np.random.default_rng([cfg.seed, 11, t])
    rows = rng.standard_normal(value.shape[0]).astype(np.float32) * np.float32(cfg.row_noise_adu)
    columns = rng.standard_normal(value.shape[1]).astype(np.float32) * np.float32(cfg.column_noise_adu)
    value += rows[:, None]
    value += columns[None, :]


def render_frames(model: SimulationModel, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
    """Acquired frames start:stop as uint8 (n, H, W), rendered one at a time."""
    cfg = model.config
    H, W, pad = cfg.height, cfg.width, cfg.pad
    n = stop - start
    if out is None:
        out = np.empty((n, H, W), np.uint8)
    base_y, base_x = np.mgrid[pad : pad + H, pad : pad + W].astype(np.float32)
    canvas = np.empty(model.canvas_shape, np.float32)
    for i in range(n):
        _clean_frame(model, start + i, canvas)
        moved = _warp(model, canvas, start + i, base_y, base_x)
        out[i] = _add_noise(moved, cfg, start + i)
    return out


def frames_per_chunk(cfg: SimulationConfig, budget_mb: float = 32.0) -> int:
    """Frames per output chunk (uint8 frames) from a memory budget."""
    return max(1, min(cfg.n_frames, int(budget_mb * 2**20 // (cfg.height * cfg.width))))


def simulate_frames(config: SimulationConfig, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Render acquired frames ``start:stop`` exactly as :func:`simulate_recording` writes them.

    Parameters
    ----------
    config : SimulationConfig
        The simulation settings.
    start, stop : int
        Range of ACQUIRED frame indices (dropped frames included), ``0 <= start <= stop <= n_frames``;
        ``stop=None`` means ``n_frames``.

    Returns
    -------
    frames : ndarray, shape (stop - start, height, width), uint8
        Noisy, moved, quantised frames. Frame ``t`` does not depend on ``start``/``stop``.

    Examples
    --------
    >>> cfg = SimulationConfig(n_frames=20, height=32, width=32, n_neurons=3)
    >>> simulate_frames(cfg, 5, 8).shape
    (3, 32, 32)
    """
    if not isinstance(config, SimulationConfig):
        raise ValueError(f"config must be a SimulationConfig, got {type(config).__name__}")
    stop = config.n_frames if stop is None else stop
    if not (0 <= start <= stop <= config.n_frames):
        raise ValueError(f"frame range {start}:{stop} is outside 0:{config.n_frames} (config.n_frames)")
    model = build_model(config)
    out = np.empty((stop - start, config.height, config.width), np.uint8)
    step = frames_per_chunk(config)
    for s in range(start, stop, step):
        e = min(stop, s + step)
        render_frames(model, s, e, out[s - start : e - start])
    return out

