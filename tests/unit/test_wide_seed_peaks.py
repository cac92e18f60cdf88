"""The wide seeding scale seeds cell-sized peaks only (``cnmfe.wide_cell_peaks``): broad glow is left out at any length.

Peak-to-noise images are built as the seeding makes them: a source seen through the wide scale's zero-mean filter
(``center_psf_kernel`` at ``gSig`` 4, ``gSiz`` 19: the first scale's 2 and 9 times ``wide_seeding`` 2), scaled to
its peak-to-noise excess, on a floor of what noise reaches (a Gumbel law, as the sign-flipped null's).
"""

import cv2
import numpy as np

from ace_neuro.cnmfe.filters import center_psf_kernel
from ace_neuro.cnmfe.init import find_seeds
from ace_neuro.cnmfe.wide_seeding import BROAD_SOURCE_FACTOR, broad_seeds, ring_share

SIZE = 96
G_SIG, G_SIZ, FACTOR = (2.0, 2.0), (9, 9), 2.0
NOISE_LOC, NOISE_SCALE = 4.0, 0.4  # the null's Gumbel law (wide scale, a few thousand frames)
MIN_PNR = NOISE_LOC - NOISE_SCALE * np.log(-np.log1p(-1e-3))  # its 1 - 0.001 quantile, as min_pnr: auto


def _filtered_source(centre, half_width: float) -> np.ndarray:
    """A Gaussian source of ``half_width`` (pixels) through the wide filter, 1 at its peak."""
    sigma = half_width / np.sqrt(2.0 * np.log(2.0))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    source = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2.0 * sigma ** 2))
    kernel = center_psf_kernel([g * FACTOR for g in G_SIG], [19, 19], True).astype(np.float64)
    out = cv2.filter2D(source, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return out / out[centre]


def _pnr(sources, seed: int = 0) -> np.ndarray:
    """Noise floor plus each ``(centre, half_width, excess)`` source's positive response (the peak over time)."""
    rng = np.random.default_rng(seed)
    pnr = rng.gumbel(NOISE_LOC, NOISE_SCALE, (SIZE, SIZE))
    for centre, half_width, excess in sources:
        pnr = np.maximum(pnr, NOISE_LOC + excess * np.maximum(_filtered_source(centre, half_width), 0.0))
    return pnr


def _wide_seeds(pnr: np.ndarray) -> np.ndarray:
    """The wide scale's seeds on ``pnr`` as the fit finds them (correlation not limiting, as on long recordings)."""
    return find_seeds(np.ones_like(pnr), pnr, 0.3, MIN_PNR, [g * FACTOR for g in G_SIG])


def _near(seeds: np.ndarray, point, radius: float = 4.0) -> bool:
    return bool(len(seeds)) and float(np.min(np.hypot(*(seeds - np.asarray(point, float)).T))) <= radius


def test_the_limit_lies_between_the_wide_scales_cells_and_glow():
    kernel = center_psf_kernel([4.0, 4.0], [19, 19], True)
    radius = 2.0 * 4.0
    limit = ring_share(kernel, BROAD_SOURCE_FACTOR * 4.0, radius)
    # through the zero-mean filter every cell up to the broadest the wide scale looks for (4 px) is <= 0 there
    assert all(ring_share(kernel, hw, radius) < 0.0 for hw in (2.0, 3.0, 4.0))
    # glow several cells wide (the simulator's neuropil: half-widths 11-17 px) keeps half of its peak
    assert all(ring_share(kernel, hw, radius) > 0.45 for hw in (11.0, 14.0, 17.0))
    assert 0.0 < limit < 0.45


def test_glow_is_left_out_and_cells_kept_however_high_their_peaks():
    # as the recording grows, every source's peak-to-noise excess grows (more events, higher maxima): glow's
    # peak stays broad, so it is left out at every excess, and a cell's stays narrow
    cells = [((20, 20), 2.4), ((70, 24), 4.0), ((24, 70), 3.5)]
    glow = (66, 68)
    for excess in (3.5, 6.0, 12.0, 24.0):
        pnr = _pnr([(c, hw, excess) for c, hw in cells] + [(glow, 14.0, excess)])
        seeds = _wide_seeds(pnr)
        assert _near(seeds, glow) and all(_near(seeds, c) for c, _ in cells)  # the thresholds alone seed all four
        broad = broad_seeds(pnr, NOISE_LOC, seeds, list(G_SIG), list(G_SIZ), FACTOR, True)
        kept = seeds[~broad]
        assert all(_near(kept, c) for c, _ in cells), excess
        assert not _near(kept, glow, radius=12.0), excess


def test_a_cell_beside_glow_is_kept():
    # an out-of-focus cell 20 px from the centre of glow (its ring holds glow on one side only)
    for excess in (4.0, 10.0):
        pnr = _pnr([((48, 30), 4.0, excess), ((48, 62), 14.0, excess)], seed=1)
        seeds = _wide_seeds(pnr)
        kept = seeds[~broad_seeds(pnr, NOISE_LOC, seeds, list(G_SIG), list(G_SIZ), FACTOR, True)]
        assert _near(kept, (48, 30)) and not _near(kept, (48, 62), radius=12.0)


def test_seeds_that_cannot_be_judged_are_kept():
    pnr = _pnr([((2, 2), 3.0, 6.0)])  # a cell in the corner (a quarter of its ring in the image)
    seeds = np.array([[2, 2], [50, 50]])  # and a seed on the noise floor (no excess to share)
    pnr[50, 50] = NOISE_LOC - 1.0
    assert not broad_seeds(pnr, NOISE_LOC, seeds, list(G_SIG), list(G_SIZ), FACTOR, True).any()
