"""Blood vessels: dark tubes along smoothly bending paths that absorb the light beneath them.

Static by default (dark landmarks). With ``vessel_dilation`` and ``vessel_wobble_px`` they dilate and
constrict with a slow haemodynamic signal and move non-rigidly, so their borders flicker: the artefact that
produces crescents and chains of false components along vessel borders in real endoscope data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .config import SimulationConfig
from .fields import band_limited_noise, smooth_field


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


@dataclass
class VesselModel:
    """Blood vessels of a recording: their geometry and, optionally, their dynamics.

    Attributes
    ----------
    distance : list of ndarray (Hc, Wc) float32
        Per vessel segment (trunk or branch), distance of each canvas pixel to its centre line.
    radius : ndarray (P,) float64
        Resting radius of each segment (pixels).
    contrast : ndarray (P,) float64
        Fraction of the light absorbed at the centre line.
    radius_scale : ndarray (P, T) float32
        Radius of each segment in frame ``t`` over its resting radius (1 = static).
    wobble_field : ndarray (P, 2, Hc, Wc) float32 or None
        Smooth unit displacement field (dy, dx) of each segment (max magnitude 1).
    wobble : ndarray (P, T) float32
        Displacement of each segment in frame ``t`` (pixels, times its field).
    tree : ndarray (P,) int64
        Index of the vessel (trunk and its branches share one).
    """

    distance: list
    radius: np.ndarray
    contrast: np.ndarray
    radius_scale: np.ndarray
    wobble_field: np.ndarray | None
    wobble: np.ndarray
    tree: np.ndarray

    @property
    def dynamic(self) -> bool:
        return bool(len(self.distance)) and (self.wobble_field is not None or bool(np.any(self.radius_scale != 1)))

    def transmission(self, t: int | None = None) -> np.ndarray:
        """(Hc, Wc) float32 light transmission: at rest (``t=None``) or in acquired frame ``t``."""
        shape = self.distance[0].shape if self.distance else None
        if shape is None:
            raise ValueError("no vessels")
        out = np.ones(shape, np.float32)
        for p, dist in enumerate(self.distance):
            rad = self.radius[p]
            if t is not None:
                rad = rad * float(self.radius_scale[p, t])
                if self.wobble_field is not None and self.wobble[p, t] != 0:
                    dist = _displaced(dist, self.wobble_field[p], float(self.wobble[p, t]))
            out *= _absorption(dist, rad, self.contrast[p])
        return out

    def rest_mask(self) -> np.ndarray:
        """(Hc, Wc) bool: pixels inside a vessel at its resting radius."""
        mask = np.zeros(self.distance[0].shape, bool)
        for dist, rad in zip(self.distance, self.radius):
            mask |= dist < rad
        return mask


def _absorption(dist: np.ndarray, radius: float, contrast: float) -> np.ndarray:
    """``1 - contrast * chord``: a tube absorbing in proportion to its chord length, blurred by 1 pixel."""
    chord = np.sqrt(np.clip(1.0 - (dist / radius) ** 2, 0.0, None))
    chord = cv2.GaussianBlur(chord, (0, 0), 1.0)
    return 1.0 - contrast * chord


def _displaced(dist: np.ndarray, unit_field: np.ndarray, amount: float) -> np.ndarray:
    """``dist`` moved by ``amount * unit_field`` (content at p comes from p - d)."""
    h, w = dist.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(dist, xx - amount * unit_field[1], yy - amount * unit_field[0], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _vessel_geometry(rng: np.random.Generator, cfg: SimulationConfig, canvas: tuple[int, int]):
    """Centre-line distance maps, radii, contrasts and vessel index of every segment."""
    Hc, Wc = canvas
    dists, radii, contrasts, tree = [], [], [], []
    if cfg.n_vessels == 0 or cfg.vessel_contrast == 0:
        return dists, radii, contrasts, tree
    size = float(max(Hc, Wc))
    for v in range(cfg.n_vessels):
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
            dists.append(cv2.distanceTransform(mask, cv2.DIST_L2, 5))
            radii.append(rad)
            contrasts.append(con)
            tree.append(v)
    return dists, radii, contrasts, tree


def build_vessel_model(rng: np.random.Generator, cfg: SimulationConfig, canvas: tuple[int, int],
                  dynamics_rng: np.random.Generator) -> VesselModel:
    """Geometry from ``rng`` (as in every earlier version), dynamics from ``dynamics_rng``.

    Diameter: ``radius_scale = 1 + vessel_dilation * tanh(h(t))`` with ``h`` a unit-variance
    haemodynamic signal, band-limited to 0.05-0.3 Hz (vasomotion), 70 % shared by all
    vessels and 30 % their own. Non-rigid wobble: each segment moves by
    ``vessel_wobble_px * tanh(w(t) / 1.5)`` times its own smooth unit field, ``w``
    band-limited to 0.05-1 Hz.
    """
    dists, radii, contrasts, tree = _vessel_geometry(rng, cfg, canvas)
    P, T, fs = len(dists), cfg.n_frames, cfg.frame_rate
    scale = np.ones((P, T), np.float32)
    wobble = np.zeros((P, T), np.float32)
    fields = None
    if P and cfg.vessel_dilation > 0:
        shared = band_limited_noise(dynamics_rng, T, fs, 0.05, 0.3)
        for p in range(P):
            own = band_limited_noise(dynamics_rng, T, fs, 0.05, 0.3)
            h = np.sqrt(0.7) * shared + np.sqrt(0.3) * own
            scale[p] = 1.0 + cfg.vessel_dilation * np.tanh(h)
    if P and cfg.vessel_wobble_px > 0:
        fields = np.empty((P, 2) + tuple(canvas), np.float32)
        for p in range(P):
            fld = np.stack([smooth_field(dynamics_rng, canvas, max(canvas) / 3.0) for _ in range(2)])
            fld /= max(float(np.sqrt((fld ** 2).sum(axis=0)).max()), 1e-12)
            fields[p] = fld
            w = band_limited_noise(dynamics_rng, T, fs, 0.05, 1.0)
            wobble[p] = cfg.vessel_wobble_px * np.tanh(w / 1.5)
    return VesselModel(dists, np.asarray(radii, np.float64), np.asarray(contrasts, np.float64), scale, fields,
                       wobble, np.asarray(tree, np.int64))


def _vessels(rng: np.random.Generator, cfg: SimulationConfig, canvas: tuple[int, int]) -> np.ndarray:
    """(Hc, Wc) light transmission of blood vessels at rest: 1 away from vessels, down to 1 - contrast on them.

    Each vessel is a tube crossing the canvas along a smoothly bending path, absorbing in
    proportion to its chord length, slightly blurred (out of focus); up to two thinner
    branches leave it at random points.
    """
    dists, radii, contrasts, _ = _vessel_geometry(rng, cfg, canvas)
    transmission = np.ones(canvas, np.float32)
    for dist, rad, con in zip(dists, radii, contrasts):
        transmission *= _absorption(dist, rad, con)
    return transmission
