"""Ground-truth one-photon recordings in the UCLA Miniscope V4 layout.

``simulate_recording(out_dir, config)`` writes a folder that the pipeline reads like a
real V4 session (``metaData.json``, ``Miniscope/0.avi ...``, ``Miniscope/metaData.json``,
``Miniscope/timeStamps.csv``), plus ``ground_truth.h5`` that accuracy tests and
benchmarks score against and, optionally, ``ephys_ttl.csv`` (one TTL pulse per
acquired frame on a drifting ephys clock).

Model
-----
All intensities are in sensor grey levels (ADU, 0-255). Frames are rendered on a
canvas padded by ``pad`` pixels on each side so that motion brings real content in
from outside the field of view. For acquired frame ``t`` (``0 <= t < n_frames``) the
clean, unmoved ("reference") fluorescence at pixel ``p`` is::

    clean_t(p) = bleach(t) * [ B0(p) * (1 + sum_j U_j(p) v_j(t))      # lens vignetting x tissue x vessels,
                                                                    # slow low-rank fluctuations
                               + V(p) * sum_m up(N_m)(p) n_m(t)      # out-of-focus neuropil
                               + sum_k A_k(p) c_k(t) ]               # in-focus somata

* ``A_k`` (``footprints``): elliptical Gaussian somata of radius ``neuron_radius_px``
  with random size, elongation and orientation, peak value = the neuron's brightness
  in ADU per unit calcium. A fraction ``overlap_fraction`` of the cells is placed
  touching another cell, so footprints overlap.
* ``c_k`` (``calcium``): AR(2) response to spikes ``s_k`` (``spikes``),
  ``c_t = g1 c_{t-1} + g2 c_{t-2} + s_t / h_max`` with ``g1 = d + r``, ``g2 = -d r``,
  ``d = exp(-dt / tau_decay)``, ``r = exp(-dt / tau_rise)``; ``h_max`` makes the
  kernel's peak 1, so a spike of amplitude ``a`` raises ``c`` by about ``a``. Spikes are
  Poisson (rate log-uniform in ``[min_rate_hz, max_rate_hz]`` per neuron) plus
  bursts (rate ``burst_rate_hz``, 3-8 spikes within ~0.3 s); amplitudes are
  log-normal (mean 1, 30 % spread).
* ``V`` (``background/vessel_transmission``): ``n_vessels`` blood vessels (tubes along
  smoothly bending paths across the field, with thinner branches) absorbing up to
  ``vessel_contrast`` of the light: static dark landmarks as in real Miniscope data.
  ``V`` is folded into ``B0`` and into the footprints ``A_k``.
* ``B0`` (``background/baseline``): off-centre vignetting of the GRIN lens times a
  +-10 % smooth tissue texture times ``V``, mean ``background_level`` over the field of view.
* ``U_j, v_j`` (``background/spatial``, ``background/temporal``): a global component
  (``U_0 = 1``) and ``background_components - 1`` smooth random spatial fields, each
  modulated by band-limited (0.02-0.5 Hz) noise with standard deviation
  ``background_fluctuation`` (hemodynamics, slow brain-state changes).
* ``N_m, n_m`` (``neuropil/...``): out-of-focus cells: large dim Gaussian blobs (3x the
  neuron radius, density ``neuropil_density`` per 1000 pixels) on a coarse grid
  (``neuropil/downsample``), bilinearly upsampled with ``cv2.resize``; each has its own
  slow calcium activity mixed with a shared slow component, so neuropil is spatially
  smooth and correlated. Their mean sum is ``neuropil_strength * background_level``.
* ``bleach(t) = exp(-t / tau)``, with ``tau`` such that a fraction ``bleaching`` of
  the fluorescence is lost between the first and last acquired frame.

Motion is applied to the clean frame, before noise. The displacement of the content
seen at output pixel ``(y, x)`` of frame ``t`` is::

    d(t, y, x) = rigid_shifts[t] + nonrigid_timecourse[t] * nonrigid_field[:, y, x]

(``(dy, dx)`` in pixels, y = rows down, x = columns right), and

    frame_t(y, x) = clean_t(y - d_y(t, y, x), x - d_x(t, y, x))

**Sign convention**: a positive ``d_y`` moves the content DOWN (to larger row
indices), a positive ``d_x`` moves it RIGHT. A motion correction must therefore
move frame ``t`` by ``-d`` (sample it at ``p + d``) to bring it back onto the
reference (unmoved) frame. The rigid part is a bounded smooth random walk
(``|rigid_shifts[t, i]| <= motion_amplitude_px``) with occasional sharper jumps; the
non-rigid field has zero spatial mean and ``max |field| = 1``, and
``|nonrigid_timecourse| <= nonrigid_amplitude_px``. The warp is ``cv2.remap`` with
bicubic interpolation (OpenCV resolves sub-pixel positions to 1/32 pixel).

Noise: photon shot noise (Poisson with ``gain_adu_per_photon * noise**2`` ADU per
photon; drawn exactly where fewer than 30 photons are expected and with the Gaussian
approximation of the Poisson law elsewhere) plus Gaussian read noise of standard
deviation ``read_noise_adu * noise``, then rounding and clipping to uint8 as the
sensor does. ``noise = 0`` gives the clean, quantised frames.

Timing: acquired frame ``i`` is taken at ``i / frame_rate`` s plus Gaussian jitter of
``timestamp_jitter_ms`` (frame 0 at exactly 0). ``dropped_frames`` randomly chosen
acquired frames (never frame 0) are not written: they have no row in
``timeStamps.csv`` (whose ``DAQ Frame Number`` is the acquired index, so it jumps) and
are absent from the AVI files; ``frame_written`` in the ground truth says which
acquired frames were written.

Determinism: everything derives from ``seed``; the noise of frame ``t`` comes from
``numpy.random.default_rng([seed, 7, t])``, so a frame's pixels do not depend on the
chunk it was rendered in, and ``simulate_frames(config, a, b)`` equals the frames
``a:b`` of any longer call.

See ``docs/simulator.md`` for the ground-truth file layout.

References
----------
.. [1] Zhou P. et al. (2018) Efficient and accurate extraction of in vivo calcium
   signals from microendoscopic video data. eLife 7:e28728 (the one-photon
   background model that CNMF-E targets).
.. [2] Friedrich J., Zhou P., Paninski L. (2017) Fast online deconvolution of
   calcium imaging data. PLoS Comput Biol 13:e1005423 (AR(2) calcium dynamics).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import scipy.sparse as sp
from scipy import ndimage, signal

from . import __version__
from .io.atomic import atomic_path
from .progress import Progress

__all__ = [
    "SimulationConfig",
    "GroundTruth",
    "simulate_recording",
    "simulate_frames",
    "simulate_ttl_times",
    "load_ground_truth",
]

log = logging.getLogger(__name__)

#: Number of expected photons below which shot noise is drawn from the exact Poisson law.
_POISSON_EXACT_BELOW = 30.0
#: Fixed acquisition start written in ``metaData.json`` (the simulation is deterministic).
_START_TIME = _dt.datetime(2024, 1, 15, 10, 30, 0, tzinfo=_dt.timezone.utc)


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SimulationConfig:
    """Every option of the simulator (all plain int / float / bool, with defaults).

    Each field's ``metadata["help"]`` is its one-line description (the CLI uses it).
    Invalid values raise ``ValueError`` naming the field.
    """

    n_frames: int = _f(2000, "number of ACQUIRED frames (written frames = n_frames - dropped_frames)")
    height: int = _f(256, "frame height in pixels")
    width: int = _f(256, "frame width in pixels")
    n_neurons: int = _f(60, "number of in-focus neurons (somata) whose centres lie in the field of view")
    frame_rate: float = _f(20.0, "acquisition frame rate in Hz")
    seed: int = _f(0, "random seed; the whole recording is a deterministic function of the config")
    motion_amplitude_px: float = _f(3.0, "bound on the rigid shift |dy|, |dx| in pixels (0 = no rigid motion)")
    motion_jump_rate_hz: float = _f(0.01, "rate of sharper rigid jumps (animal movements) per second")
    nonrigid_amplitude_px: float = _f(0.5, "bound on the non-rigid displacement in pixels (0 = rigid only)")
    noise: float = _f(1.0, "scale of shot and read noise (0 = noiseless, 1 = realistic)")
    gain_adu_per_photon: float = _f(0.25, "sensor conversion gain: grey levels per detected photon (shot noise)")
    read_noise_adu: float = _f(1.5, "standard deviation of the Gaussian read noise in grey levels")
    neuron_radius_px: float = _f(4.0, "typical soma radius in pixels (footprint Gaussian sigma = 0.6 x radius)")
    neuron_brightness: float = _f(12.0, "mean soma peak brightness in grey levels per unit calcium (one spike)")
    overlap_fraction: float = _f(0.2, "fraction of neurons placed touching another neuron (overlapping footprints)")
    min_rate_hz: float = _f(0.05, "lowest per-neuron Poisson spike rate in Hz")
    max_rate_hz: float = _f(0.5, "highest per-neuron Poisson spike rate in Hz")
    burst_rate_hz: float = _f(0.02, "per-neuron rate of bursts (3-8 spikes within ~0.3 s) in Hz")
    rise_time_s: float = _f(0.05, "calcium rise time constant in seconds")
    decay_time_s: float = _f(0.7, "mean calcium decay time constant in seconds (+-30 % across neurons)")
    background_level: float = _f(80.0, "mean grey level of the vignetted background over the field of view")
    background_components: int = _f(3, "number of fluctuating background components (first one is global)")
    background_fluctuation: float = _f(0.05, "relative standard deviation of the background fluctuations")
    neuropil_strength: float = _f(0.25, "mean out-of-focus neuropil, as a fraction of background_level")
    neuropil_density: float = _f(2.0, "out-of-focus cells per 1000 pixels")
    n_vessels: int = _f(3, "blood vessels crossing the field (dark, static landmarks), each with up to 2 branches")
    vessel_contrast: float = _f(0.35, "fraction of the light absorbed at the centre of the widest vessels")
    bleaching: float = _f(0.15, "fraction of fluorescence lost to photobleaching over the recording")
    dropped_frames: int = _f(0, "acquired frames that are not written (missing from AVI and time stamps)")
    timestamp_jitter_ms: float = _f(1.0, "standard deviation of frame time-stamp jitter in ms")
    frames_per_file: int = _f(1000, "frames per AVI file (Miniscope DAQ default 1000)")
    ephys: bool = _f(True, "also write ephys_ttl.csv: one TTL pulse per acquired frame on an ephys clock")
    ephys_drift_ppm: float = _f(20.0, "ephys clock drift relative to the Miniscope clock, parts per million")
    ephys_offset_s: float = _f(3.25, "ephys time of the first acquired frame in seconds")
    ephys_jitter_s: float = _f(1e-4, "standard deviation of TTL edge jitter in seconds")
    ephys_missing: int = _f(3, "TTL pulses that the ephys system missed")
    ephys_extra: int = _f(3, "spurious extra TTL pulses")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            expected = {"int": int, "float": float, "bool": bool}[f.type] if isinstance(f.type, str) else f.type
            if expected is bool:
                ok = isinstance(value, (bool, np.bool_))
            elif expected is int:
                ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            else:
                ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
                ok = ok and math.isfinite(float(value))
            if not ok:
                raise ValueError(f"SimulationConfig.{f.name} must be a finite {f.type}, got {value!r}")

        def need(name: str, cond: bool, what: str) -> None:
            if not cond:
                raise ValueError(f"SimulationConfig.{name} = {getattr(self, name)!r}: {what}")

        need("n_frames", self.n_frames >= 2, "need at least 2 frames")
        need("height", self.height >= 16, "frames must be at least 16 pixels high")
        need("width", self.width >= 16, "frames must be at least 16 pixels wide")
        need("n_neurons", self.n_neurons >= 0, "must be >= 0")
        need("frame_rate", self.frame_rate > 0, "must be > 0 Hz")
        need("seed", self.seed >= 0, "must be >= 0")
        need("motion_amplitude_px", 0 <= self.motion_amplitude_px <= min(self.height, self.width) / 4,
             "must be between 0 and a quarter of the frame size")
        need("motion_jump_rate_hz", self.motion_jump_rate_hz >= 0, "must be >= 0")
        need("nonrigid_amplitude_px", 0 <= self.nonrigid_amplitude_px <= min(self.height, self.width) / 8,
             "must be between 0 and an eighth of the frame size")
        need("noise", self.noise >= 0, "must be >= 0")
        need("gain_adu_per_photon", self.gain_adu_per_photon > 0, "must be > 0")
        need("read_noise_adu", self.read_noise_adu >= 0, "must be >= 0")
        need("neuron_radius_px", 1 <= self.neuron_radius_px <= min(self.height, self.width) / 4,
             "must be between 1 and a quarter of the frame size")
        need("neuron_brightness", self.neuron_brightness >= 0, "must be >= 0")
        need("overlap_fraction", 0 <= self.overlap_fraction <= 1, "must be between 0 and 1")
        need("min_rate_hz", self.min_rate_hz > 0, "must be > 0")
        need("max_rate_hz", self.max_rate_hz >= self.min_rate_hz, "must be >= min_rate_hz")
        need("max_rate_hz", self.max_rate_hz < self.frame_rate / 2, "must be below half the frame rate")
        need("burst_rate_hz", self.burst_rate_hz >= 0, "must be >= 0")
        need("rise_time_s", self.rise_time_s > 0, "must be > 0")
        need("decay_time_s", self.decay_time_s > 2 * self.rise_time_s, "must be more than twice rise_time_s")
        need("background_level", 0 <= self.background_level <= 200, "must be between 0 and 200 grey levels")
        need("background_components", self.background_components >= 0, "must be >= 0")
        need("background_fluctuation", 0 <= self.background_fluctuation <= 0.5, "must be between 0 and 0.5")
        need("neuropil_strength", self.neuropil_strength >= 0, "must be >= 0")
        need("neuropil_density", self.neuropil_density >= 0, "must be >= 0")
        need("n_vessels", self.n_vessels >= 0, "must be >= 0")
        need("vessel_contrast", 0 <= self.vessel_contrast < 1, "must be in [0, 1)")
        need("bleaching", 0 <= self.bleaching < 1, "must be in [0, 1)")
        need("dropped_frames", 0 <= self.dropped_frames <= (self.n_frames - 1) // 2,
             "must be between 0 and half the number of frames")
        need("timestamp_jitter_ms", 0 <= self.timestamp_jitter_ms <= 250.0 / self.frame_rate,
             "must be >= 0 and below a quarter of the frame period")
        need("frames_per_file", self.frames_per_file >= 1, "must be >= 1")
        need("ephys_jitter_s", 0 <= self.ephys_jitter_s <= 0.1 / self.frame_rate,
             "must be >= 0 and below a tenth of the frame period")
        need("ephys_missing", 0 <= self.ephys_missing <= (self.n_frames - 2) // 2,
             "must be between 0 and half the number of frames")
        need("ephys_extra", self.ephys_extra >= 0, "must be >= 0")
        need("ephys_drift_ppm", abs(self.ephys_drift_ppm) < 1e4, "must be below 10000 ppm in magnitude")

    @property
    def pad(self) -> int:
        """Canvas margin in pixels: room for the largest displacement plus interpolation."""
        return int(math.ceil(self.motion_amplitude_px + self.nonrigid_amplitude_px)) + 3

    def to_json(self) -> str:
        """All fields as a JSON object (stored in the ground truth)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SimulationConfig":
        """Inverse of :meth:`to_json`; unknown keys raise ``ValueError``."""
        values = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown SimulationConfig fields {unknown}; known: {sorted(known)}")
        return cls(**values)


# --------------------------------------------------------------------------------------
# The model: everything except the per-frame noise, precomputed from the config.


@dataclass
class _Model:
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
    transmission: np.ndarray  # (Hc, Wc) float32, light passing the blood vessels
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


def _rngs(seed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, purpose])


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Smooth random field with zero mean and unit standard deviation, correlation length ~scale_px."""
    h, w = shape
    ch, cw = max(2, int(math.ceil(h / scale_px)) + 2), max(2, int(math.ceil(w / scale_px)) + 2)
    coarse = rng.standard_normal((ch, cw)).astype(np.float32)
    fine = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = ndimage.gaussian_filter(fine, sigma=scale_px / 4.0, mode="reflect")
    fine -= fine.mean()
    sd = fine.std()
    return (fine / sd if sd > 0 else fine).astype(np.float32)


def _band_limited(rng: np.random.Generator, n: int, fs: float, lo: float, hi: float) -> np.ndarray:
    """Gaussian noise of length n with power only between lo and hi Hz, unit std."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, d=1.0 / fs)
    hi = min(hi, fs / 2)
    spec[(freqs < lo) | (freqs > hi)] = 0
    if not np.any(spec):
        spec[min(1, len(spec) - 1)] = 1.0
    x = np.fft.irfft(spec, n=n)
    x -= x.mean()
    sd = x.std()
    return x / sd if sd > 0 else x


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


def _footprints(rng: np.random.Generator, cfg: SimulationConfig, centres: np.ndarray) -> sp.csc_matrix:
    """Sparse (Hc*Wc, K) elliptical Gaussian footprints on the padded canvas."""
    pad = cfg.pad
    Hc, Wc = cfg.height + 2 * pad, cfg.width + 2 * pad
    K = len(centres)
    sigma0 = 0.6 * cfg.neuron_radius_px
    rows, cols, vals = [], [], []
    brightness = cfg.neuron_brightness * rng.uniform(0.6, 1.4, size=K)
    for k in range(K):
        size = rng.uniform(0.8, 1.2)
        elong = rng.uniform(1.0, 1.5)
        s_major, s_minor = sigma0 * size * np.sqrt(elong), sigma0 * size / np.sqrt(elong)
        theta = rng.uniform(0, np.pi)
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
        vals.append((brightness[k] * g[keep]).astype(np.float32))
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
    texture = 1.0 + 0.1 * np.clip(_smooth_field(rng, canvas, size / 6.0), -3, 3) / 3.0
    baseline = (vignette * texture).astype(np.float32)
    baseline *= cfg.background_level / baseline[pad : pad + H, pad : pad + W].mean()
    r = cfg.background_components
    spatial = np.empty((r, Hc, Wc), np.float32)
    temporal = np.empty((r, T), np.float32)
    for j in range(r):
        spatial[j] = 1.0 if j == 0 else _smooth_field(rng, canvas, size / 4.0)
        amp = cfg.background_fluctuation * (1.0 if j == 0 else 0.6)
        temporal[j] = amp * _band_limited(rng, T, fs, 0.02, 0.5)
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
    shared = _band_limited(rng, T, fs, 0.02, 0.5).astype(np.float32)
    weights_shared = rng.uniform(0.1, 0.3, M).astype(np.float32)
    traces = own  # (M, T) float32, filled in place
    for m in range(M):
        row = traces[m]
        row *= 0.4
        row += 0.6 * (1.0 + weights_shared[m] * shared)
        np.maximum(row, 0.05, out=row)
        row /= row.mean()
    return mat, (hc, wc), ds, traces


def _vessel_path(rng: np.random.Generator, canvas: tuple[int, int], start: np.ndarray, angle: float,
                 max_len: float) -> np.ndarray:
    """(n, 2) points (x, y) of a smoothly bending path from ``start`` until it leaves the canvas."""
    Hc, Wc = canvas
    step, turn = 2.0, rng.normal(0, 0.004)
    pts = [start.astype(np.float64)]
    p, a, length = start.astype(np.float64), angle, 0.0
    while length < max_len:
        turn = 0.9 * turn + rng.normal(0, 0.01)
        a += turn
        p = p + step * np.array([np.cos(a), np.sin(a)])
        length += step
        pts.append(p)
        if not (-5 <= p[0] <= Wc + 5 and -5 <= p[1] <= Hc + 5):
            break
    return np.array(pts)


def _vessels(rng: np.random.Generator, cfg: SimulationConfig, canvas: tuple[int, int]) -> np.ndarray:
    """(Hc, Wc) light transmission of blood vessels: 1 away from vessels, down to 1 - contrast on them.

    Each vessel is a tube crossing the canvas along a smoothly bending path, absorbing in
    proportion to its chord length, slightly blurred (out of focus); up to two thinner
    branches leave it at random points.
    """
    Hc, Wc = canvas
    transmission = np.ones(canvas, np.float32)
    if cfg.n_vessels == 0 or cfg.vessel_contrast == 0:
        return transmission
    size = float(max(Hc, Wc))
    for _ in range(cfg.n_vessels):
        side = rng.integers(4)
        u = rng.uniform(0.1, 0.9)
        start = np.array([[u * Wc, 0.0], [u * Wc, Hc - 1.0], [0.0, u * Hc], [Wc - 1.0, u * Hc]][side])
        target = np.array([rng.uniform(0.25, 0.75) * Wc, rng.uniform(0.25, 0.75) * Hc])
        angle = math.atan2(target[1] - start[1], target[0] - start[0])
        radius = rng.uniform(0.6, 1.5) * cfg.neuron_radius_px
        contrast = cfg.vessel_contrast * rng.uniform(0.6, 1.0)
        trunk = _vessel_path(rng, canvas, start, angle, 3 * size)
        paths = [(trunk, radius, contrast)]
        for _ in range(rng.integers(0, 3)):
            origin = trunk[rng.integers(len(trunk) // 5, max(len(trunk) // 5 + 1, 4 * len(trunk) // 5))]
            seg = trunk[-1] - trunk[0]
            b_angle = math.atan2(seg[1], seg[0]) + rng.choice([-1, 1]) * rng.uniform(0.4, 1.2)
            paths.append((_vessel_path(rng, canvas, origin, b_angle, size / 3), 0.6 * radius, 0.8 * contrast))
        for pts, rad, con in paths:
            mask = np.full(canvas, 255, np.uint8)
            cv2.polylines(mask, [np.rint(pts * 16).astype(np.int32)], False, 0, 1, cv2.LINE_8, 4)
            dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
            chord = np.sqrt(np.clip(1.0 - (dist / rad) ** 2, 0.0, None))
            chord = cv2.GaussianBlur(chord, (0, 0), 1.0)
            transmission *= 1.0 - con * chord
    return transmission


def _rigid_motion(rng: np.random.Generator, cfg: SimulationConfig) -> np.ndarray:
    """(T, 2) bounded smooth random walk with occasional sharper jumps."""
    T, fs, A = cfg.n_frames, cfg.frame_rate, cfg.motion_amplitude_px
    if A == 0:
        return np.zeros((T, 2), np.float32)
    dt = 1.0 / fs
    out = np.zeros((T, 2))
    for axis in range(2):
        # slow drift/wander (Ornstein-Uhlenbeck, tau 2 s) + fast small jitter (tau 0.1 s)
        slow = signal.lfilter([1.0], [1.0, -math.exp(-dt / 2.0)], rng.standard_normal(T))
        slow *= (A / 2.5) / max(slow.std(), 1e-12)
        fast = signal.lfilter([1.0], [1.0, -math.exp(-dt / 0.1)], rng.standard_normal(T))
        fast *= (A / 15.0) / max(fast.std(), 1e-12)
        out[:, axis] = slow + fast
    n_jumps = rng.poisson(cfg.motion_jump_rate_hz * T / fs)
    for t0 in np.sort(rng.integers(1, T, size=n_jumps)):
        step = rng.normal(0, A / 2.0, size=2)
        tau = rng.uniform(0.5, 3.0)  # s, relaxation back towards the rest position
        rise = max(1, int(round(0.1 * fs)))  # the jump happens within ~0.1 s
        t = np.arange(T - t0)
        profile = np.minimum(t / rise, 1.0) * np.exp(-np.maximum(t - rise, 0) * dt / tau)
        out[t0:] += profile[:, None] * step
    return (A * np.tanh(out / A)).astype(np.float32)


def _nonrigid(rng: np.random.Generator, cfg: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Field (2, H, W), zero spatial mean, max magnitude 1; time course (T,) bounded by the amplitude."""
    H, W, T, fs = cfg.height, cfg.width, cfg.n_frames, cfg.frame_rate
    fld = np.stack([_smooth_field(rng, (H, W), max(H, W) / 2.5) for _ in range(2)])
    fld -= fld.mean(axis=(1, 2), keepdims=True)
    mag = np.sqrt((fld**2).sum(axis=0)).max()
    fld = (fld / mag if mag > 0 else fld).astype(np.float32)
    if cfg.nonrigid_amplitude_px == 0:
        return fld, np.zeros(T, np.float32)
    x = signal.lfilter([1.0], [1.0, -math.exp(-1.0 / (fs * 1.0))], rng.standard_normal(T))
    x /= max(x.std(), 1e-12)
    return fld, (cfg.nonrigid_amplitude_px * np.tanh(x / 1.5)).astype(np.float32)


def _timing(rng: np.random.Generator, cfg: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    T, fs = cfg.n_frames, cfg.frame_rate
    times = np.arange(T) / fs + rng.normal(0, cfg.timestamp_jitter_ms / 1000.0, T)
    times[0] = 0.0
    written = np.ones(T, bool)
    if cfg.dropped_frames:
        written[rng.choice(np.arange(1, T), size=cfg.dropped_frames, replace=False)] = False
    return times, written


def _build_model(cfg: SimulationConfig) -> _Model:
    """Everything but the noise, deterministically from the config (independent sub-seeds)."""
    pad = cfg.pad
    canvas = (cfg.height + 2 * pad, cfg.width + 2 * pad)
    rng = _rngs(cfg.seed, 1)
    centres = _place_neurons(rng, cfg)
    transmission = _vessels(_rngs(cfg.seed, 10), cfg, canvas)
    # vessels above the focal plane absorb the light of everything beneath them
    footprints = sp.diags(transmission.ravel()) @ _footprints(_rngs(cfg.seed, 2), cfg, centres)
    rng = _rngs(cfg.seed, 3)
    K, fs = cfg.n_neurons, cfg.frame_rate
    rates = np.exp(rng.uniform(np.log(cfg.min_rate_hz), np.log(cfg.max_rate_hz), K))
    tau_d = cfg.decay_time_s * rng.uniform(0.7, 1.3, K)
    tau_r = np.full(K, cfg.rise_time_s)
    g1, g2, peak = _ar2_coefficients(tau_r, tau_d, fs)
    burn = int(math.ceil(5 * fs * tau_d.max(initial=0.0)))  # activity before the first frame
    counts, spikes = _spike_trains(rng, K, cfg.n_frames + burn, fs, rates, cfg.burst_rate_hz)
    calcium = _calcium(spikes, g1, g2, peak, burn)
    spikes = spikes[:, burn:] / peak[:, None].astype(np.float32)  # amplitude of the AR input s_t
    baseline, bg_spatial, bg_temporal = _background(_rngs(cfg.seed, 4), cfg, canvas)
    fov_mean = baseline[pad : pad + cfg.height, pad : pad + cfg.width].mean()
    baseline *= transmission
    new_mean = baseline[pad : pad + cfg.height, pad : pad + cfg.width].mean()
    if new_mean > 0:
        baseline *= fov_mean / new_mean  # keep the mean background at background_level
    np_mat, np_shape, ds, np_traces = _neuropil(_rngs(cfg.seed, 5), cfg, canvas)
    t = np.arange(cfg.n_frames)
    bleach = np.ones(cfg.n_frames)
    if cfg.bleaching > 0:
        bleach = np.exp(t / (cfg.n_frames - 1) * np.log(1.0 - cfg.bleaching))
    rigid = _rigid_motion(_rngs(cfg.seed, 6), cfg)
    fld, course = _nonrigid(_rngs(cfg.seed, 8), cfg)
    times, written = _timing(_rngs(cfg.seed, 9), cfg)
    return _Model(
        config=cfg, canvas_shape=canvas, footprints=footprints.tocsr(), centres=centres.astype(np.float32),
        calcium=calcium.astype(np.float32), spikes=spikes.astype(np.float32),
        spike_counts=counts[:, burn:].astype(np.int16), spike_rates_hz=rates.astype(np.float32),
        decay_times_s=tau_d.astype(np.float32),
        ar_coefs=np.column_stack([g1, g2]).astype(np.float32), baseline=baseline, bg_spatial=bg_spatial,
        bg_temporal=bg_temporal, transmission=transmission, neuropil_coarse=np_mat, neuropil_shape=np_shape,
        neuropil_downsample=ds,
        neuropil_traces=np_traces, bleach=bleach.astype(np.float32), rigid=rigid, nonrigid_field=fld,
        nonrigid_timecourse=course, frame_times_s=times, frame_written=written,
    )


# --------------------------------------------------------------------------------------
# Rendering


def _clean_frame(model: _Model, t: int, out: np.ndarray) -> np.ndarray:
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
    out *= model.bleach[t]
    return out


def _clean_canvas(model: _Model, start: int, stop: int) -> np.ndarray:
    """Bleached, unmoved clean fluorescence on the canvas, (n, Hc, Wc) float32."""
    out = np.empty((stop - start,) + model.canvas_shape, np.float32)
    for i in range(stop - start):
        _clean_frame(model, start + i, out[i])
    return out


def _warp(model: _Model, canvas: np.ndarray, t: int, base_y: np.ndarray, base_x: np.ndarray) -> np.ndarray:
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
    np.rint(value, out=value)
    np.clip(value, 0, 255, out=value)
    return value.astype(np.uint8)


def _render(model: _Model, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
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


def _chunk_frames(cfg: SimulationConfig, budget_mb: float = 32.0) -> int:
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
    model = _build_model(config)
    out = np.empty((stop - start, config.height, config.width), np.uint8)
    step = _chunk_frames(config)
    for s in range(start, stop, step):
        e = min(stop, s + step)
        _render(model, s, e, out[s - start : e - start])
    return out


# --------------------------------------------------------------------------------------
# Ephys TTL


def simulate_ttl_times(
    frame_times_s: np.ndarray,
    *,
    drift_ppm: float = 20.0,
    offset_s: float = 3.25,
    n_missing: int = 3,
    n_extra: int = 3,
    jitter_s: float = 1e-4,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TTL rising edges recorded on an ephys clock, one per acquired frame, with faults.

    The ephys clock runs ``drift_ppm`` parts per million fast relative to the Miniscope
    clock and reads ``offset_s`` at the first frame:
    ``true_ephys = offset_s + frame_times_s * (1 + drift_ppm * 1e-6)``. Observed edges add
    Gaussian jitter, lose ``n_missing`` pulses (never the first or the last) and gain
    ``n_extra`` spurious pulses at random times between the first and last pulse, at
    least a quarter of the median frame period away from every true pulse.

    Parameters
    ----------
    frame_times_s : ndarray, shape (T,), float
        Acquisition times of all acquired frames in seconds (Miniscope clock), increasing.
    drift_ppm, offset_s, jitter_s : float
        Clock drift (ppm), ephys time of frame time 0 (s), edge jitter standard deviation (s).
    n_missing, n_extra : int
        Number of missed and of spurious pulses.
    seed : int
        Seed of the random faults and jitter.

    Returns
    -------
    ttl_times_s : ndarray, shape (T - n_missing + n_extra,), float64
        Observed rising-edge times on the ephys clock, sorted.
    true_frame_times_ephys_s : ndarray, shape (T,), float64
        Exact (jitter-free) ephys time of every acquired frame.
    missing_idx : ndarray, shape (n_missing,), int64
        Acquired frame indices whose pulse is missing, sorted.
    extra_idx : ndarray, shape (n_extra,), int64
        Indices into ``ttl_times_s`` of the spurious pulses, sorted.

    Examples
    --------
    >>> t = np.arange(100) / 20.0
    >>> ttl, true, miss, extra = simulate_ttl_times(t, n_missing=2, n_extra=1)
    >>> len(ttl), len(true), len(miss), len(extra)
    (99, 100, 2, 1)
    """
    times = np.asarray(frame_times_s, dtype=np.float64)
    if times.ndim != 1 or times.size < 2:
        raise ValueError(f"frame_times_s must be a 1-D array of at least 2 times, got shape {times.shape}")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ValueError("frame_times_s must be finite and strictly increasing")
    T = times.size
    if not (0 <= n_missing <= T - 2):
        raise ValueError(f"n_missing = {n_missing} must be between 0 and {T - 2} (frames minus first and last)")
    if n_extra < 0:
        raise ValueError(f"n_extra = {n_extra} must be >= 0")
    if jitter_s < 0:
        raise ValueError(f"jitter_s = {jitter_s} must be >= 0")
    if not math.isfinite(drift_ppm) or abs(drift_ppm) >= 1e4:
        raise ValueError(f"drift_ppm = {drift_ppm} must be finite and below 10000 in magnitude")
    period = float(np.median(np.diff(times)))
    if jitter_s > period / 10:
        raise ValueError(f"jitter_s = {jitter_s} must be below a tenth of the frame period ({period:g} s)")
    rng = np.random.default_rng([int(seed), 11])
    true = offset_s + times * (1.0 + drift_ppm * 1e-6)
    observed = true + rng.normal(0.0, jitter_s, T) if jitter_s > 0 else true.copy()
    missing = np.sort(rng.choice(np.arange(1, T - 1), size=n_missing, replace=False)).astype(np.int64)
    kept = np.delete(observed, missing)
    extra = []
    while len(extra) < n_extra:
        cand = rng.uniform(true[0], true[-1])
        if np.min(np.abs(true - cand)) >= period / 4 and all(abs(cand - e) >= period / 4 for e in extra):
            extra.append(cand)
    all_times = np.concatenate([kept, np.asarray(extra, np.float64)])
    is_extra = np.concatenate([np.zeros(kept.size, bool), np.ones(len(extra), bool)])
    order = np.argsort(all_times, kind="stable")
    return all_times[order], true, missing, np.flatnonzero(is_extra[order]).astype(np.int64)


# --------------------------------------------------------------------------------------
# Writing the V4 folder


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=4) + "\n")


def _session_metadata(cfg: SimulationConfig, base: str) -> dict:
    st = _START_TIME
    return {
        "researcherName": "ace_neuro simulator",
        "animalName": f"sim{cfg.seed}",
        "experimentName": "simulated one-photon recording",
        "baseDirectory": base,
        "recordingStartTime": {
            "year": st.year, "month": st.month, "day": st.day, "hour": st.hour, "minute": st.minute,
            "second": st.second, "msec": st.microsecond // 1000, "msecSinceEpoch": int(st.timestamp() * 1000),
        },
        "miniscopes": ["Miniscope"],
        "cameras": [],
    }


def _device_metadata(cfg: SimulationConfig) -> dict:
    return {
        "deviceName": "Miniscope",
        "deviceType": "Miniscope_V4_BNO",
        "deviceID": 0,
        "deviceDirectory": "Miniscope",
        "framesPerFile": cfg.frames_per_file,
        "compression": "FFV1",
        "ROI": {"leftEdge": 0, "topEdge": 0, "width": cfg.width, "height": cfg.height},
        "gain": "Low",
        "ewl": 0,
        "led0": 20,
        "frameRate": f"{cfg.frame_rate:g}FPS",
    }


class _AviSink:
    """Writes frames into 0.avi, 1.avi, ... with frames_per_file frames each (FFV1 grey)."""

    def __init__(self, folder: Path, shape: tuple[int, int], frames_per_file: int) -> None:
        self.folder, self.shape, self.per_file = folder, shape, frames_per_file
        self.writer: cv2.VideoWriter | None = None
        self.n_in_file = 0
        self.file_index = -1

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None or self.n_in_file == self.per_file:
            self.close()
            self.file_index += 1
            path = self.folder / f"{self.file_index}.avi"
            h, w = self.shape
            self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 60.0, (w, h), isColor=False)
            if not self.writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write FFV1 video {path}; install opencv-python-headless from PyPI")
            self.n_in_file = 0
        self.writer.write(frame)
        self.n_in_file += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None


def _write_ground_truth(path: Path, model: _Model, ephys: dict | None) -> None:
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


def _mean_background(model: _Model) -> np.ndarray:
    """Time-average of the unmoved, unbleached background + neuropil on the canvas (Hc, Wc)."""
    Hc, Wc = model.canvas_shape
    mean_fluct = 1.0 + np.tensordot(model.bg_temporal.mean(axis=1), model.bg_spatial, axes=1)
    out = model.baseline * mean_fluct
    if model.neuropil_traces.shape[0]:
        hc, wc = model.neuropil_shape
        coarse = (model.neuropil_coarse @ model.neuropil_traces.mean(axis=1)).reshape(hc, wc).astype(np.float32)
        out = out + cv2.resize(coarse, (Wc, Hc), interpolation=cv2.INTER_LINEAR) * model.transmission
    return out.astype(np.float32)


def simulate_recording(out_dir: str | Path, config: SimulationConfig | None = None) -> Path:
    """Write a simulated UCLA Miniscope V4 recording and its ground truth to ``out_dir``.

    The folder is built under a temporary sibling name and renamed when complete; an
    existing ``out_dir`` is replaced only if it is empty or an earlier simulation (it holds
    ``ground_truth.h5``), otherwise ``ValueError`` is raised. Frames are rendered chunk by chunk, so memory does
    not grow with ``n_frames``.

    Parameters
    ----------
    out_dir : str or Path
        Session folder to create: ``metaData.json``, ``Miniscope/{0,1,...}.avi``,
        ``Miniscope/metaData.json``, ``Miniscope/timeStamps.csv``, ``ground_truth.h5``
        and, when ``config.ephys``, ``ephys_ttl.csv``.
    config : SimulationConfig, optional
        Settings; defaults to ``SimulationConfig()``.

    Returns
    -------
    Path
        ``out_dir``.
    """
    cfg = SimulationConfig() if config is None else config
    if not isinstance(cfg, SimulationConfig):
        raise ValueError(f"config must be a SimulationConfig, got {type(cfg).__name__}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not (out_dir.is_dir() and (not any(out_dir.iterdir())
                                                       or (out_dir / "ground_truth.h5").is_file())):
        raise ValueError(f"{out_dir} exists and is not an earlier simulated recording; "
                         "choose a new folder (only empty folders or earlier simulations are replaced)")
    log.info("simulating %d frames of %dx%d, %d neurons, seed %d into %s",
             cfg.n_frames, cfg.height, cfg.width, cfg.n_neurons, cfg.seed, out_dir)
    model = _build_model(cfg)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        scope = tmp / "Miniscope"
        scope.mkdir()
        _write_json(tmp / "metaData.json", _session_metadata(cfg, str(out_dir.resolve())))
        _write_json(scope / "metaData.json", _device_metadata(cfg))
        written = np.flatnonzero(model.frame_written)
        stamps_ms = np.rint(model.frame_times_s[written] * 1000.0).astype(np.int64)
        with open(scope / "timeStamps.csv", "w") as fh:
            fh.write("Frame Number,Time Stamp (ms),Buffer Index,DAQ Frame Number\n")
            for i, (acq, ms) in enumerate(zip(written, stamps_ms)):
                fh.write(f"{i},{ms},{i % 256},{acq}\n")
        sink = _AviSink(scope, (cfg.height, cfg.width), cfg.frames_per_file)
        progress = Progress(cfg.n_frames, "simulate", log)
        step = _chunk_frames(cfg)
        buf = np.empty((step, cfg.height, cfg.width), np.uint8)
        try:
            for s in range(0, cfg.n_frames, step):
                e = min(cfg.n_frames, s + step)
                frames = _render(model, s, e, buf[: e - s])
                for i in range(e - s):
                    if model.frame_written[s + i]:
                        sink.write(frames[i])
                progress.update(e - s)
        finally:
            sink.close()
        ephys = None
        if cfg.ephys:
            ttl, true, missing, extra = simulate_ttl_times(
                model.frame_times_s, drift_ppm=cfg.ephys_drift_ppm, offset_s=cfg.ephys_offset_s,
                n_missing=cfg.ephys_missing, n_extra=cfg.ephys_extra, jitter_s=cfg.ephys_jitter_s, seed=cfg.seed,
            )
            with open(tmp / "ephys_ttl.csv", "w") as fh:
                fh.write("time_s\n")
                fh.writelines(f"{x:.7f}\n" for x in ttl)
            ephys = {"ttl": ttl, "true": true, "missing": missing, "extra": extra, "drift_ppm": cfg.ephys_drift_ppm,
                     "offset_s": cfg.ephys_offset_s, "jitter_s": cfg.ephys_jitter_s}
        _write_ground_truth(tmp / "ground_truth.h5", model, ephys)
    log.info("simulated recording written to %s (%d of %d frames written)", out_dir, written.size, cfg.n_frames)
    return out_dir


# --------------------------------------------------------------------------------------
# Reading the ground truth


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
        )


def _read_footprints(dataset: h5py.Dataset, sparse: bool) -> np.ndarray | sp.csr_matrix:
    if not sparse:
        return dataset[()]
    K, H, W = dataset.shape
    rows = []
    for k in range(K):
        rows.append(sp.csr_matrix(dataset[k].reshape(1, H * W)))
    return sp.vstack(rows, format="csr", dtype=np.float32) if K else sp.csr_matrix((0, H * W), dtype=np.float32)
