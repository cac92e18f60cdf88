"""Blood vessels: dark tubes along smoothly bending paths that absorb the light beneath them."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .config import SimulationConfig


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

