"""A second, wider seeding scale for neurons larger than ``gSig`` says: out-of-focus and blurred cells.

The seeding filter (a zero-mean Gaussian of width ``gSig``, :mod:`.filters`) is
matched to the typical soma, and ``gSig: auto`` measures the *median* size
(:mod:`.size`). A cell out of the focal plane is the soma blurred by the
optics' point-spread function: wider and, its flux kept, dimmer at its centre.
Through the narrow filter such a cell's peak-to-noise ratio and local
correlation fall into the null's bulk and it is never seeded, while the same
cell seen through a filter of its own width stands out (a matched filter
gathers the flux of the whole blob). So, with ``wide_seeding`` set, the seeding
images are computed a second time with ``gSig`` and ``gSiz`` multiplied by
``wide_seeding``, the thresholds are calibrated on that scale's own null (the
sign-flipped filtered movie, :mod:`.thresholds`: what noise and background
reach at this scale), and its seeds are kept only where no seed of the first
scale lies within ``2 gSig``: the first scale's cells are not seeded twice.
These seeds are initialised at the wide geometry (their trace filtered by the
wide filter, their footprint regressed on the wide box), then refined and
evaluated as every other component.

The wide filter also passes what is broader than any cell: out-of-focus
neuropil, diffuse glow that fluctuates with real transients, which a flipped
null does not cover (its events are positive too). After each refinement round
the fit removes every component of the wide scale (its centre farther than
``2 gSig`` from every seed of the soma-sized filter) whose footprint is broader
than the cells the wide scale looks for: a half-width at half maximum above
``wide_seeding gSig``
(``gSig`` is a neuron's half-width at half maximum, :mod:`.size`;
:func:`oversized_components`). A soma of the first scale is half that width;
a broad cell the soma-sized filter seeded is kept, as without the wide scale
(benchmarks/length.md, "Session 11: out-of-focus cells").

Most of the wide scale's seeds are on that glow (simulations: 34 of 44 on the out-of-focus neuropil, none on a
cell, at 256x256 x 6,000; ~690 for 150 cells at 608x608 x 54,000), and it takes a refinement round, at the
recording's length, to remove them. ``wide_cell_peaks`` (opt-in) leaves them out at seeding
(:func:`broad_seeds`): through the zero-mean wide filter a source up to the broadest cell the scale looks for has
fallen to zero or below at ``2 wide_seeding gSig`` from its centre, broad glow has not, so a seed whose PNR excess
over the noise keeps more on that circle than a source twice the broadest cell's width would keep is not seeded.
It is opt-in because a dim out-of-focus cell sitting on glow looks the same (benchmarks/long_session.md,
"Session 14: initial components and the length").
"""

from __future__ import annotations

import numpy as np

from .filters import center_psf_kernel
from .init import InitialComponents

__all__ = ["wide_geometry", "near_seeds", "join_components", "largest_half_width", "oversized_components",
           "ring_share", "peak_ring_shares", "broad_seeds", "BROAD_SOURCE_FACTOR"]

#: A wide seed is left out when its peak in the wide PNR image is as broad as that of a source this many times
#: as wide as the broadest cell the wide scale looks for (:func:`broad_seeds`).
BROAD_SOURCE_FACTOR = 2.0



def wide_geometry(gSig, gSiz, factor: float) -> tuple[list[float], list[int]]:
    """The wide scale's filter width and box: ``gSig * factor`` and ``gSiz * factor`` (odd, pixels).

    Parameters
    ----------
    gSig : (float, float)
        The first scale's filter width, pixels (rows, cols).
    gSiz : (int, int)
        The first scale's box, pixels.
    factor : float
        ``wide_seeding`` (> 1).

    Returns
    -------
    g_sig : list of float
    g_siz : list of int
        Odd sizes (the filter's kernel and the box are centred on a pixel).

    Examples
    --------
    >>> wide_geometry([2.0, 2.0], [9, 9], 2.0)
    ([4.0, 4.0], [19, 19])
    """
    g_sig = [float(g) * float(factor) for g in gSig]
    g_siz = [int(round(float(g) * float(factor))) // 2 * 2 + 1 for g in gSiz]
    return g_sig, g_siz


def near_seeds(dims: tuple[int, int], seeds: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` of any of ``seeds``: where the wide scale places no seed.

    Parameters
    ----------
    dims : (h, w)
    seeds : ndarray, shape (K, 2), int
        ``(row, col)`` of the first scale's seeds.
    radius : float
        Pixels (``2 gSig``).

    Returns
    -------
    ndarray of bool, shape (h, w)

    Examples
    --------
    >>> int(near_seeds((9, 9), np.array([[4, 4]]), 2.0).sum())
    13
    """
    h, w = dims
    mask = np.zeros((h, w), bool)
    reach = int(np.floor(radius))
    yy, xx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    disk = yy ** 2 + xx ** 2 <= float(radius) ** 2
    for r, c in np.asarray(seeds, np.int64).reshape(-1, 2):
        r0, r1 = max(0, r - reach), min(h, r + reach + 1)
        c0, c1 = max(0, c - reach), min(w, c + reach + 1)
        mask[r0:r1, c0:c1] |= disk[r0 - r + reach:r1 - r + reach, c0 - c + reach:c1 - c + reach]
    return mask


def join_components(first: InitialComponents, wide: InitialComponents) -> InitialComponents:
    """The first scale's components followed by the wide scale's (footprints, traces, centres)."""
    if not len(wide.footprints):
        return first
    if not len(first.footprints):
        return wide
    return InitialComponents(footprints=list(first.footprints) + list(wide.footprints),
                             traces=np.concatenate([first.traces, wide.traces], axis=0),
                             centers=np.concatenate([first.centers, wide.centers], axis=0))


def largest_half_width(gSig, factor: float) -> float:
    """The broadest footprint kept with a wide scale, pixels: ``factor max(gSig)``, the half-width of its cells.

    ``gSig`` is a neuron's half-width at half maximum (:mod:`.size`), so the wide scale looks for cells
    ``factor`` times as wide; a footprint broader than that is not one of them.

    Examples
    --------
    >>> largest_half_width([2, 2], 2.0)
    4.0
    """
    return float(factor) * float(max(gSig))


def oversized_components(A, dims: tuple[int, int], gSig, factor: float) -> np.ndarray:
    """Components broader than the cells the wide seeding scale looks for (:func:`largest_half_width`).

    Parameters
    ----------
    A : sparse matrix, shape (h*w, K)
        Footprints, pixel index ``row + col * h``.
    dims : (h, w)
    gSig : (int, int)
        The first seeding scale's width, pixels (full resolution).
    factor : float
        ``wide_seeding``.

    Returns
    -------
    ndarray of int64
        Indices of the components whose footprint's half-width at half maximum (``sqrt(area above half its
        peak / pi)``) exceeds :func:`largest_half_width`.
    """
    from .parameter_aid import footprint_half_widths  # parameter_aid imports the fit

    widths = footprint_half_widths(A, dims)
    return np.flatnonzero(widths > largest_half_width(gSig, factor)).astype(np.int64)


def ring_share(kernel: np.ndarray, half_width: float, radius: float) -> float:
    """What a Gaussian source of ``half_width`` leaves through ``kernel`` at ``radius`` (a share of its centre's).

    Parameters
    ----------
    kernel : ndarray, shape (kh, kw)
        The seeding filter (:func:`.filters.center_psf_kernel`).
    half_width : float
        The source's half-width at half maximum, pixels (Gaussian sigma ``half_width / 1.1774``).
    radius : float
        Pixels.

    Returns
    -------
    float
        The filtered source at ``radius`` (mean over the circle) over its value at the centre.

    Examples
    --------
    >>> k = center_psf_kernel([4.0, 4.0], [19, 19])
    >>> ring_share(k, 4.0, 8.0) < 0 < ring_share(k, 8.0, 8.0) < ring_share(k, 14.0, 8.0)
    True
    """
    k = np.asarray(kernel, np.float64)
    sigma = float(half_width) / np.sqrt(2.0 * np.log(2.0))
    ky, kx = np.mgrid[:k.shape[0], :k.shape[1]]
    ky, kx = ky - k.shape[0] // 2, kx - k.shape[1] // 2

    def response(y: float, x: float) -> float:
        return float((k * np.exp(-((y - ky) ** 2 + (x - kx) ** 2) / (2.0 * sigma ** 2))).sum())

    angles = np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False)
    ring = np.mean([response(radius * np.sin(a), radius * np.cos(a)) for a in angles])
    centre = response(0.0, 0.0)
    return float(ring / centre) if centre > 0 else 1.0


def peak_ring_shares(pnr: np.ndarray, noise_max: float, seeds: np.ndarray, radius: float) -> np.ndarray:
    """How much of each seed's peak in ``pnr`` is left at ``radius``: ``(ring median - noise_max) / (seed - noise_max)``.

    Parameters
    ----------
    pnr : ndarray, shape (h, w)
        Peak-to-noise image of a seeding scale.
    noise_max : float
        What noise alone reaches in ``pnr`` (the Gumbel location of its null, :mod:`.thresholds`).
    seeds : ndarray, shape (n, 2), int
        ``(row, col)``.
    radius : float
        Pixels.

    Returns
    -------
    ndarray, shape (n,), float64
        NaN where fewer than 8 pixels of the ring lie in the image or the seed does not exceed ``noise_max``.
    """
    h, w = pnr.shape
    reach = int(np.ceil(radius + 0.5))
    yy, xx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    dist = np.hypot(yy, xx)
    on_ring = np.abs(dist - float(radius)) <= 0.5
    dy, dx = yy[on_ring], xx[on_ring]
    out = np.full(len(seeds), np.nan)
    for i, (r, c) in enumerate(np.asarray(seeds, np.int64).reshape(-1, 2)):
        rows, cols = r + dy, c + dx
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        excess = float(pnr[r, c]) - float(noise_max)
        if inside.sum() < 8 or excess <= 0:
            continue
        values = pnr[rows[inside], cols[inside]].astype(np.float64)
        values = values[np.isfinite(values)]
        if values.size >= 8:
            out[i] = (float(np.median(values)) - float(noise_max)) / excess
    return out


def broad_seeds(pnr: np.ndarray, noise_max: float, seeds: np.ndarray, g_sig, g_siz, factor: float,
                center_psf: bool) -> np.ndarray:
    """The wide scale's seeds on glow broader than its cells: their peak in the wide PNR image does not fall off.

    Through the zero-mean wide filter (``gSig`` and ``gSiz`` times ``factor``), every source up to the broadest cell
    the wide scale keeps (half-width ``factor gSig``, :func:`largest_half_width`) has fallen to zero or below at
    ``2 factor gSig`` from its centre (the filter's negative surround), while broad glow (out-of-focus neuropil,
    many cell diameters wide) is still at half its peak there. So a seed whose excess of the wide PNR over what
    noise reaches (``noise_max``) keeps, on the circle of that radius (median), more than the share a source
    :data:`BROAD_SOURCE_FACTOR` times as broad as the broadest cell would keep (:func:`ring_share`, from the filter
    itself) is left out. Its peak-to-noise ratio grows with the recording's length (the flipped null never holds
    its positive events), so without this the wide seeds on glow grow with the length.

    Parameters
    ----------
    pnr : ndarray, shape (h, w)
        The wide scale's PNR image.
    noise_max : float
        Its null's Gumbel location.
    seeds : ndarray, shape (n, 2), int
        The wide scale's seeds.
    g_sig, g_siz : (float, float)
        The first scale's filter width and box (pixels, at the images' resolution).
    factor : float
        ``wide_seeding``.
    center_psf : bool
        The seeding filter's kind (:func:`.filters.center_psf_kernel`).

    Returns
    -------
    ndarray of bool, shape (n,)
        True: a seed on broad glow. Seeds that cannot be judged (NaN shares) are kept.
    """
    w_sig, w_siz = wide_geometry(g_sig, g_siz, factor)
    radius = 2.0 * max(w_sig)
    kernel = center_psf_kernel(w_sig, w_siz, center_psf)
    limit = ring_share(kernel, BROAD_SOURCE_FACTOR * largest_half_width(g_sig, factor), radius)
    shares = peak_ring_shares(pnr, noise_max, seeds, radius)
    return np.nan_to_num(shares, nan=-np.inf) > limit
