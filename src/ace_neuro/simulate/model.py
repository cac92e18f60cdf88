"""The model: everything of a simulated recording except the per-frame noise, precomputed from the config.

Neurons (footprints, spikes, AR(2) calcium), the vignetted fluctuating background,
out-of-focus neuropil, photobleaching, blood vessels (:mod:`.vessels`), motion and
frame timing (:mod:`.motion`); each part draws from its own sub-seed of ``config.seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import signal

from .config import SimulationConfig
from .fields import band_limited_noise, seeded_rng, smooth_field
from .motion import nonrigid_motion, rigid_motion, frame_timing
from .vessels import VesselModel, build_vessel_model


@dataclass
class SimulationModel:
    config: SimulationConfig
    canvas_shape: tuple[int, int]
    footprints: sp.csr_matrix  # (Hc*Wc, K) C order, ADU per unit calcium, vessels included
    centres: np.ndarray  # (K, 2) FOV coordinates (y, x)
    calcium: np.ndarray  # (K, T) float32
    spikes: np.ndarray  # (K, T) float32
    spike_counts: np.ndarray  # (K, T) int16
    spike_rates_hz: np.ndarray  # (K,) float32
    decay_times_s: np.ndarray  # (K,) float32
    ar_coefs: np.ndarray  # (K, 2) g1, g2
    baseline: np.ndarray  # (Hc, Wc) float32
    bg_spatial: np.ndarray  # (r, Hc, Wc) float32
    bg_temporal: np.ndarray  # (r, T) float32
    transmission: np.ndarray  # (Hc, Wc) float32, light passing the blood vessels at rest
    vessels: VesselModel  # geometry and dynamics of the vessels
    neuropil_coarse: sp.csr_matrix  # (hc*wc, M)
    neuropil_shape: tuple[int, int]  # (hc, wc)
    neuropil_downsample: int
    neuropil_traces: np.ndarray  # (M, T) float32
    bleach: np.ndarray  # (T,) float32
    rigid: np.ndarray  # (T, 2) float32
    nonrigid_field: np.ndarray  # (2, H, W) float32
    nonrigid_timecourse: np.ndarray  # (T,) float32
    frame_times_s: np.ndarray  # (T,) float64
    frame_written: np.ndarray  # (T,) bool
    depths: np.ndarray | None = None  # (K,) float32, depth in depths of field (0 = in focus), defocus_blur_px
    blur_px: np.ndarray | None = None  # (K,) float32, sigma of each neuron's point-spread function (px)


def _ar2_coefficients(
    tau_rise: np.ndarray, tau_decay: np.ndarray, fs: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AR(2) coefficients g1, g2 and peak of the impulse response per neuron."""
    d = np.exp(-1.0 / (fs * tau_decay))
    r = np.exp(-1.0 / (fs * tau_rise))
    g1, g2 = d + r, -d * r
    n = np.arange(int(10 * fs * tau_decay.max(initial=0.0)) + 3)
    h = (d[:, None] ** (n + 1) - r[:, None] ** (n + 1)) / (d - r)[:, None]
    return g1, g2, h.max(axis=1)


def _spike_trains(
    rng: np.random.Generator, n: int, T: int, fs: float, rates: np.ndarray, burst_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """(n, T) float32 spike counts and summed amplitudes: Poisson spikes plus bursts, log-normal amplitudes.

    Drawn row by row so that no (n, T) float64 or int64 temporaries are needed.
    """
    counts = np.empty((n, T), np.float32)
    burst_span = max(1, int(round(0.3 * fs))) + 1
    for k in range(n):
        counts[k] = rng.poisson(rates[k] / fs, T)
        for t0 in rng.integers(0, T, size=rng.poisson(burst_rate * T / fs)) if burst_rate > 0 else ():
            idx = t0 + rng.integers(0, burst_span, size=rng.integers(3, 9))
            np.add.at(counts[k], idx[idx < T], 1.0)
    # a frame with m spikes gets amplitude m * amp (one log-normal draw per frame with spikes)
    sigma = 0.3
    amplitudes = counts.copy()
    nz = np.nonzero(counts)
    amplitudes[nz] *= rng.lognormal(-sigma**2 / 2, sigma, size=nz[0].size).astype(np.float32)
    return counts, amplitudes


def _calcium(spikes: np.ndarray, g1: np.ndarray, g2: np.ndarray, peak: np.ndarray, burn_in: int = 0) -> np.ndarray:
    """AR(2) filtering of each row; the first ``burn_in`` frames (activity before the recording) are dropped."""
    out = np.empty((spikes.shape[0], spikes.shape[1] - burn_in), dtype=np.float32)
    for k in range(spikes.shape[0]):
        out[k] = signal.lfilter([1.0 / peak[k]], [1.0, -g1[k], -g2[k]], spikes[k])[burn_in:]
    return out


def _place_neurons(rng: np.random.Generator, cfg: SimulationConfig) -> np.ndarray:
    """(K, 2) centres in FOV coordinates; a fraction touches an earlier neuron."""
    K, R = cfg.n_neurons, cfg.neuron_radius_px
    H, W = cfg.height, cfg.width
    centres = np.zeros((K, 2))
    margin = min(R, min(H, W) / 4)
    for k in range(K):
        touching = k > 0 and rng.random() < cfg.overlap_fraction
        for attempt in range(200):
            if touching:
                other = centres[rng.integers(0, k)]
                angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 1.7) * R
                c = other + dist * np.array([np.sin(angle), np.cos(angle)])
            else:
                c = np.array([rng.uniform(margin, H - margin), rng.uniform(margin, W - margin)])
            if not (0 <= c[0] < H and 0 <= c[1] < W):
                continue
            if k == 0:
                break
            dmin = np.sqrt(((centres[:k] - c) ** 2).sum(axis=1)).min()
            # touching cells: not on top of one another; others: keep 2 radii apart when possible
            limit = 0.9 * R if touching else (2.0 * R if attempt < 150 else 0.9 * R)
            if dmin >= limit:
                break
        centres[k] = c
    return centres


def _neuron_depths(rng: np.random.Generator, cfg: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """(K,) depths in depths of field (uniform in [-1, 1], 0 = in focus) and the (K,) PSF sigma (px) at each.

    All zero without ``defocus_blur_px`` (no draw, so the default recording is unchanged).
    """
    K = cfg.n_neurons
    if cfg.defocus_blur_px <= 0:
        return np.zeros(K, np.float32), np.zeros(K, np.float32)
    depths = rng.uniform(-1.0, 1.0, K)
    return depths.astype(np.float32), (cfg.defocus_blur_px * np.abs(depths)).astype(np.float32)


def _footprints(rng: np.random.Generator, cfg: SimulationConfig, centres: np.ndarray,
                blur_px: np.ndarray | None = None) -> sp.csc_matrix:
    """Sparse (Hc*Wc, K) elliptical Gaussian footprints on the padded canvas.

    ``blur_px`` (K,): sigma (px) of each neuron's Gaussian point-spread function. A Gaussian soma of axes
    ``(s1, s2)`` seen through it is the Gaussian of axes ``sqrt(s^2 + blur^2)`` with the same integral (flux), so
    its peak falls by ``s1 s2 / sqrt((s1^2 + blur^2)(s2^2 + blur^2))``: the exact convolution, no grid.
    """
    pad = cfg.pad
    Hc, Wc = cfg.height + 2 * pad, cfg.width + 2 * pad
    K = len(centres)
    sigma0 = 0.6 * cfg.neuron_radius_px
    rows, cols, vals = [], [], []
    brightness = cfg.soma_brightness_adu * rng.uniform(0.6, 1.4, size=K)
    for k in range(K):
        size = rng.uniform(0.8, 1.2)
        elong = rng.uniform(1.0, 1.5)
        s_major, s_minor = sigma0 * size * np.sqrt(elong), sigma0 * size / np.sqrt(elong)
        theta = rng.uniform(0, np.pi)
        peak = brightness[k]
        if blur_px is not None and blur_px[k] > 0:
            blurred = np.sqrt(s_major ** 2 + blur_px[k] ** 2), np.sqrt(s_minor ** 2 + blur_px[k] ** 2)
            peak *= s_major * s_minor / (blurred[0] * blurred[1])
            s_major, s_minor = blurred
        cy, cx = centres[k] + pad
        half = int(math.ceil(3.0 * s_major)) + 1
        y0, y1 = max(0, int(cy) - half), min(Hc, int(cy) + half + 2)
        x0, x1 = max(0, int(cx) - half), min(Wc, int(cx) + half + 2)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dy, dx = yy - cy, xx - cx
        u = dx * np.cos(theta) + dy * np.sin(theta)
        v = -dx * np.sin(theta) + dy * np.cos(theta)
        g = np.exp(-0.5 * ((u / s_major) ** 2 + (v / s_minor) ** 2))
        keep = g > 0.01
        rows.append((yy[keep] * Wc + xx[keep]).ravel())
        cols.append(np.full(keep.sum(), k))
        vals.append((peak * g[keep]).astype(np.float32))
    if K == 0:
        return sp.csc_matrix((Hc * Wc, 0), dtype=np.float32)
    return sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(Hc * Wc, K), dtype=np.float32
    )


def _background(
    rng: np.random.Generator, cfg: SimulationConfig, canvas: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Baseline (Hc, Wc), spatial components (r, Hc, Wc), temporal components (r, T)."""
    Hc, Wc = canvas
    pad, H, W, T, fs = cfg.pad, cfg.height, cfg.width, cfg.n_frames, cfg.frame_rate
    size = max(H, W)
    cy = pad + H / 2 + rng.uniform(-0.15, 0.15) * H
    cx = pad + W / 2 + rng.uniform(-0.15, 0.15) * W
    yy, xx = np.mgrid[0:Hc, 0:Wc].astype(np.float32)
    s = 0.55 * size
    vignette = 0.3 + 0.7 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    texture = 1.0 + 0.1 * np.clip(smooth_field(rng, canvas, size / 6.0), -3, 3) / 3.0
    baseline = (vignette * texture).astype(np.float32)
    baseline *= cfg.background_level / baseline[pad : pad + H, pad : pad + W].mean()
    r = cfg.background_components
    spatial = np.empty((r, Hc, Wc), np.float32)
    temporal = np.empty((r, T), np.float32)
    for j in range(r):
        spatial[j] = 1.0 if j == 0 else smooth_field(rng, canvas, size / 4.0)
        amp = cfg.background_fluctuation * (1.0 if j == 0 else 0.6)
        temporal[j] = amp * band_limited_noise(rng, T, fs, 0.02, 0.5)
    return baseline, spatial, temporal


def _neuropil(
    rng: np.random.Generator, cfg: SimulationConfig, canvas: tuple[int, int]
) -> tuple[sp.csr_matrix, tuple[int, int], int, np.ndarray]:
    """Coarse-grid out-of-focus blobs (hc*wc, M), grid shape, downsampling factor, traces (M, T)."""
    Hc, Wc = canvas
    T, fs = cfg.n_frames, cfg.frame_rate
    sigma_full = 3.0 * cfg.neuron_radius_px
    ds = max(1, int(sigma_full * 0.8 / 2.5))
    hc, wc = int(math.ceil(Hc / ds)), int(math.ceil(Wc / ds))
    M = int(round(cfg.neuropil_density * Hc * Wc / 1000.0))
    if M == 0 or cfg.neuropil_strength == 0:
        return sp.csr_matrix((hc * wc, 0), dtype=np.float32), (hc, wc), ds, np.zeros((0, T), np.float32)
    rows, cols, vals = [], [], []
    cyx = np.column_stack([rng.uniform(0, hc, M), rng.uniform(0, wc, M)])
    sig = sigma_full * rng.uniform(0.8, 1.2, M) / ds
    weights = rng.uniform(0.5, 1.5, M)
    for m in range(M):
        half = int(math.ceil(3 * sig[m])) + 1
        cy, cx = cyx[m]
        y0, y1 = max(0, int(cy) - half), min(hc, int(cy) + half + 2)
        x0, x1 = max(0, int(cx) - half), min(wc, int(cx) + half + 2)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        g = weights[m] * np.exp(-((yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2) / (2 * sig[m] ** 2))
        rows.append((yy * wc + xx).ravel())
        cols.append(np.full(g.size, m))
        vals.append(g.ravel())
    mat = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(hc * wc, M), dtype=np.float64
    )
    total_mean = np.asarray(mat.sum(axis=1)).mean()
    mat = (mat * (cfg.neuropil_strength * cfg.background_level / total_mean)).astype(np.float32).tocsr()
    # activity: each blob stands for many blurred cells: frequent small events, slow decay
    tau_d = np.full(M, 1.5)
    g1, g2, peak = _ar2_coefficients(np.full(M, 0.1), tau_d, fs)
    burn = int(math.ceil(5 * fs * tau_d.max()))  # start in the steady state, not from zero calcium
    _, spikes = _spike_trains(rng, M, T + burn, fs, np.full(M, 1.0), 0.0)
    own = _calcium(spikes, g1, g2, peak, burn)
    own /= np.maximum(own.mean(axis=1, keepdims=True), 1e-6)
    shared = band_limited_noise(rng, T, fs, 0.02, 0.5).astype(np.float32)
    weights_shared = rng.uniform(0.1, 0.3, M).astype(np.float32)
    traces = own  # (M, T) float32, filled in place
    for m in range(M):
        row = traces[m]
        row *= 0.4
        row += 0.6 * (1.0 + weights_shared[m] * shared)
        np.maximum(row, 0.05, out=row)
        row /= row.mean()
    return mat, (hc, wc), ds, traces



def build_model(
    cfg: SimulationConfig,
    *,
    centres: np.ndarray | None = None,
    footprints: sp.spmatrix | None = None,
    vessels: VesselModel | None = None,
) -> SimulationModel:
    """Everything but the noise, deterministically from the config (independent sub-seeds).

    ``centres`` ((K, 2) FOV coordinates), ``footprints`` (sparse ``(Hc*Wc, K)`` on the padded canvas, ADU per unit
    calcium, before the vessels' absorption) and ``vessels`` replace the drawn ones when given (the multi-session
    simulator, :mod:`.sessions`, passes the same tissue seen through each session's field of view);
    ``K`` must equal ``cfg.n_neurons``.
    """
    pad = cfg.pad
    canvas = (cfg.height + 2 * pad, cfg.width + 2 * pad)
    rng = seeded_rng(cfg.seed, 1)
    if centres is None:
        centres = _place_neurons(rng, cfg)
    if len(centres) != cfg.n_neurons or (footprints is not None and footprints.shape != (canvas[0] * canvas[1],
                                                                                        cfg.n_neurons)):
        raise ValueError(f"build_model: {len(centres)} centres / footprints of shape "
                         f"{None if footprints is None else footprints.shape} for n_neurons = {cfg.n_neurons} "
                         f"on a {canvas} canvas")
    if vessels is None:
        vessels = build_vessel_model(seeded_rng(cfg.seed, 10), cfg, canvas, seeded_rng(cfg.seed, 12))
    transmission = vessels.transmission() if vessels.distance else np.ones(canvas, np.float32)
    if footprints is not None and cfg.defocus_blur_px > 0:
        raise ValueError(f"SimulationConfig.defocus_blur_px = {cfg.defocus_blur_px}: realistic optics are made by the "
                         "single-recording simulator only (set it to 0 for multi-session subjects)")
    depths, blur_px = _neuron_depths(seeded_rng(cfg.seed, 13), cfg)
    if footprints is None:
        footprints = _footprints(seeded_rng(cfg.seed, 2), cfg, centres, blur_px)
    # vessels above the focal plane absorb the light of everything beneath them
    footprints = sp.diags(transmission.ravel()) @ sp.csc_matrix(footprints, dtype=np.float32)
    rng = seeded_rng(cfg.seed, 3)
    K, fs = cfg.n_neurons, cfg.frame_rate
    rates = np.exp(rng.uniform(np.log(cfg.min_rate_hz), np.log(cfg.max_rate_hz), K))
    tau_d = cfg.decay_time_s * rng.uniform(0.7, 1.3, K)
    tau_r = np.full(K, cfg.rise_time_s)
    g1, g2, peak = _ar2_coefficients(tau_r, tau_d, fs)
    burn = int(math.ceil(5 * fs * tau_d.max(initial=0.0)))  # activity before the first frame
    counts, spikes = _spike_trains(rng, K, cfg.n_frames + burn, fs, rates, cfg.burst_rate_hz)
    calcium = _calcium(spikes, g1, g2, peak, burn)
    spikes = spikes[:, burn:] / peak[:, None].astype(np.float32)  # amplitude of the AR input s_t
    baseline, bg_spatial, bg_temporal = _background(seeded_rng(cfg.seed, 4), cfg, canvas)
    fov_mean = baseline[pad : pad + cfg.height, pad : pad + cfg.width].mean()
    baseline *= transmission
    new_mean = baseline[pad : pad + cfg.height, pad : pad + cfg.width].mean()
    if new_mean > 0:
        baseline *= fov_mean / new_mean  # keep the mean background at background_level
    np_mat, np_shape, ds, np_traces = _neuropil(seeded_rng(cfg.seed, 5), cfg, canvas)
    t = np.arange(cfg.n_frames)
    bleach = np.ones(cfg.n_frames)
    if cfg.bleaching > 0:
        bleach = np.exp(t / (cfg.n_frames - 1) * np.log(1.0 - cfg.bleaching))
    rigid = rigid_motion(seeded_rng(cfg.seed, 6), cfg)
    fld, course = nonrigid_motion(seeded_rng(cfg.seed, 8), cfg)
    times, written = frame_timing(seeded_rng(cfg.seed, 9), cfg)
    return SimulationModel(
        config=cfg, canvas_shape=canvas, footprints=footprints.tocsr(), centres=centres.astype(np.float32),
        calcium=calcium.astype(np.float32), spikes=spikes.astype(np.float32),
        spike_counts=counts[:, burn:].astype(np.int16), spike_rates_hz=rates.astype(np.float32),
        decay_times_s=tau_d.astype(np.float32),
        ar_coefs=np.column_stack([g1, g2]).astype(np.float32), baseline=baseline, bg_spatial=bg_spatial,
        bg_temporal=bg_temporal, transmission=transmission, vessels=vessels, neuropil_coarse=np_mat, neuropil_shape=np_shape,
        neuropil_downsample=ds,
        neuropil_traces=np_traces, bleach=bleach.astype(np.float32), rigid=rigid, nonrigid_field=fld,
        nonrigid_timecourse=course, frame_times_s=times, frame_written=written, depths=depths, blur_px=blur_px,
    )

