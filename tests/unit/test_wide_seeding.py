"""The wide seeding scale (``cnmfe.wide_seeding``): out-of-focus cells are seeded, broad blobs are not kept."""

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.pipeline import fit_cnmfe
from ace_neuro.cnmfe.spatial import centroids
from ace_neuro.cnmfe.wide_seeding import largest_half_width, oversized_components
from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap

SIZE, FRAMES = 64, 600
IN_FOCUS = (16, 16)  # a soma of standard deviation 2 px
OUT_OF_FOCUS = (46, 40)  # the same kind of cell blurred by the optics to 4.5 px: a fifth of the flux per pixel


def _gaussian(centre, sigma: float) -> np.ndarray:
    """``(SIZE, SIZE)`` Gaussian of unit sum."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    g = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


def _calcium(rng: np.random.Generator) -> np.ndarray:
    """``(FRAMES,)`` AR(1) calcium of sparse spikes."""
    spikes = (rng.random(FRAMES) < 0.02) * rng.uniform(0.6, 1.4, FRAMES)
    c = np.zeros(FRAMES)
    for t in range(FRAMES):
        c[t] = (0.9 * c[t - 1] if t else 0.0) + spikes[t]
    return c


def _movie(folder, cells) -> None:
    """White noise (sd 1) on a flat background plus ``cells`` ``(centre, sigma, flux)``, as a CaImAn memory map."""
    rng = np.random.default_rng(0)
    movie = 50.0 + rng.normal(0.0, 1.0, (FRAMES, SIZE, SIZE))
    for centre, sigma, flux in cells:
        movie += _calcium(rng)[:, None, None] * (flux * _gaussian(centre, sigma))[None]
    view = create_caiman_memmap(folder / caiman_memmap_name("corrected", SIZE, SIZE, FRAMES), SIZE, SIZE, FRAMES)
    view[:] = movie.astype(np.float32)
    del view


def _centres(folder, **params) -> np.ndarray:
    path = next(folder.glob("*.mmap"))
    est = fit_cnmfe(path, CnmfeOptions.from_params({"gSig": 2, "gSiz": 9, **params}), threads=1, frame_rate=20.0)
    return centroids(est.A, est.dims)


def _found(centres: np.ndarray, cell) -> bool:
    return bool(len(centres)) and float(np.min(np.hypot(*(centres - np.asarray(cell, float)).T))) <= 3.0


def test_an_out_of_focus_cell_is_found_by_the_default_wide_seeding(tmp_path):
    _movie(tmp_path, [(IN_FOCUS, 2.0, 400.0), (OUT_OF_FOCUS, 4.5, 130.0)])
    shipped = _centres(tmp_path)
    assert _found(shipped, IN_FOCUS) and _found(shipped, OUT_OF_FOCUS)
    # through the soma-sized filter alone the blurred cell stays in the noise: it is the wide scale that seeds it
    one_scale = _centres(tmp_path, wide_seeding=None)
    assert _found(one_scale, IN_FOCUS) and not _found(one_scale, OUT_OF_FOCUS)


def test_footprints_broader_than_the_wide_scales_cells_are_flagged():
    sigmas = [2.0, 3.0, 12.0]  # a soma, a soma out of focus, diffuse neuropil (half-widths 2.4, 3.5, 14 px)
    A = scipy.sparse.csc_matrix(np.stack([_gaussian((32, 32), s).ravel(order="F") for s in sigmas], axis=1))
    # gSig 2 (a half-width at half maximum) and factor 2: cells up to 4 px wide
    assert largest_half_width([2, 2], 2.0) == 4.0
    assert oversized_components(A, (SIZE, SIZE), [2, 2], 2.0).tolist() == [2]
    assert oversized_components(A, (SIZE, SIZE), [2, 2], 1.5).tolist() == [1, 2]
