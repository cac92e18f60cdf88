"""The simulator's settings: :class:`SimulationConfig` (every option, with its default and help)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SimulationConfig"]


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
    defocus_blur_px: float = _f(0.0, "realistic optics, if > 0: neurons at depths uniform in [-1, 1] depths of field, each footprint blurred by a Gaussian PSF of sigma defocus_blur_px x |depth| (flux kept: out-of-focus cells larger and dimmer); the blurred footprints are the ground truth (0 = every soma in focus)")
    neuron_brightness: float = _f(12.0, "mean soma peak brightness in grey levels per unit calcium (one spike)")
    spike_to_noise: float = _f(0.0, "if > 0: mean peak dF of one spike at a soma centre / per-pixel noise sd at the mean background level; sets neuron_brightness (0 = use neuron_brightness)")
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
    vessel_dilation: float = _f(0.0, "relative amplitude of vessel diameter changes with a slow (0.05-0.3 Hz) haemodynamic signal (0 = static vessels)")
    vessel_wobble_px: float = _f(0.0, "amplitude in pixels of each vessel's own non-rigid movement (0.05-1 Hz; 0 = none)")
    bleaching: float = _f(0.15, "fraction of fluorescence lost to photobleaching over the recording")
    row_noise_adu: float = _f(0.0, "sensor row banding: standard deviation in grey levels of an offset added to each row of each frame, drawn anew per frame (temporal row noise of a CMOS read-out or a wireless link; 0 = none)")
    column_noise_adu: float = _f(0.0, "column banding: standard deviation in grey levels of an offset added to each column of each frame, drawn anew per frame (0 = none)")
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
        need("defocus_blur_px", 0 <= self.defocus_blur_px <= min(self.height, self.width) / 8,
             "must be between 0 and an eighth of the frame size")
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
        need("vessel_dilation", 0 <= self.vessel_dilation <= 0.5, "must be between 0 and 0.5")
        need("vessel_wobble_px", 0 <= self.vessel_wobble_px <= self.neuron_radius_px, "must be between 0 and neuron_radius_px")
        need("spike_to_noise", self.spike_to_noise >= 0, "must be >= 0")
        need("spike_to_noise", self.spike_to_noise == 0 or self.noise > 0, "needs noise > 0")
        need("bleaching", 0 <= self.bleaching < 1, "must be in [0, 1)")
        need("row_noise_adu", self.row_noise_adu >= 0, "must be >= 0")
        need("column_noise_adu", self.column_noise_adu >= 0, "must be >= 0")
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

    @property
    def noise_sd_adu(self) -> float:
        """Per-pixel noise sd (ADU) of a written frame at the mean background level (unbleached).

        Shot noise at ``background_level * (1 + neuropil_strength)`` grey levels, read noise and
        the rounding to integer grey levels (variance 1/12).
        """
        level = self.background_level * (1.0 + self.neuropil_strength)
        g = self.gain_adu_per_photon * self.noise ** 2
        return math.sqrt(g * level + (self.read_noise_adu * self.noise) ** 2 + 1.0 / 12.0)

    @property
    def soma_brightness_adu(self) -> float:
        """Mean peak dF (ADU) of one spike at a soma centre (away from vessels)."""
        if self.spike_to_noise > 0:
            return self.spike_to_noise * self.noise_sd_adu
        return float(self.neuron_brightness)

    @property
    def spike_to_noise_ratio(self) -> float:
        """Mean peak dF of one spike / per-pixel noise sd (``soma_brightness_adu / noise_sd_adu``)."""
        return self.soma_brightness_adu / self.noise_sd_adu

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

