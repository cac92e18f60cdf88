"""Figures of CNMF-E results for people: component outlines with ids, traces of the accepted components."""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.io.images import display_limits, save_figure

__all__ = ["footprint_contours", "contours_figure", "traces_figure"]

#: Outline colours of accepted and rejected components (rejected ones are also dashed).
ACCEPTED_COLOR = "#3ddc5a"
REJECTED_COLOR = "#ff4f6d"


def footprint_contours(
    A: scipy.sparse.spmatrix, dims: tuple[int, int], *, energy: float = 0.9
) -> list[list[np.ndarray]]:
    """Outline of each footprint: the pixels holding ``energy`` of its squared mass.

    The strongest pixels of footprint ``k`` are kept until their squared
    values reach ``energy`` of the total (CaImAn's ``'nrg'`` threshold of
    ``get_contours``); the outline is the 0.5 iso-line of that mask
    (contourpy's marching squares), so it runs between kept and dropped pixels
    and encloses every kept pixel. Only each footprint's bounding box is made
    dense, so memory stays at one box, not ``K * H * W``.

    Parameters
    ----------
    A : sparse matrix, shape (H*W, K)
        Footprints, pixel index ``row + col * H`` (CaImAn's Fortran order).
    dims : (H, W)
        Frame size in pixels.
    energy : float
        Fraction (0, 1] of each footprint's squared mass inside the outline.

    Returns
    -------
    list of K lists of ndarray, each float64 of shape (n, 2)
        Closed polylines as (row, col) coordinates of pixel centres (the
        centre of pixel ``(i, j)`` is ``(i, j)``); an empty list for an
        all-zero footprint. A footprint split in pieces gives several lines.

    Examples
    --------
    >>> A = scipy.sparse.csc_matrix(np.eye(9, 1, k=-4))  # one pixel in the middle of a 3x3 frame
    >>> [line.min(axis=0).tolist() for line in footprint_contours(A, (3, 3))[0]]
    [[0.5, 0.5]]
    """
    import contourpy

    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    height, width = (int(d) for d in dims)
    A = scipy.sparse.csc_matrix(A)
    if A.shape[0] != height * width:
        raise ValueError(f"A has {A.shape[0]} rows but dims {dims} give {height * width} pixels")
    out: list[list[np.ndarray]] = []
    for k in range(A.shape[1]):
        span = slice(A.indptr[k], A.indptr[k + 1])
        values = A.data[span].astype(np.float64)
        pixels = A.indices[span][values > 0]
        values = values[values > 0]
        if values.size == 0:
            out.append([])
            continue
        ranked = np.sort(values)[::-1]
        mass = np.cumsum(ranked**2)
        level = ranked[min(int(np.searchsorted(mass, energy * mass[-1])), values.size - 1)]
        kept = pixels[values >= level]  # pixels equal to the last one needed are all kept
        rows, cols = kept % height, kept // height
        top, left = int(rows.min()) - 1, int(cols.min()) - 1  # one empty pixel around, so outlines close
        mask = np.zeros((int(rows.max()) - top + 2, int(cols.max()) - left + 2))
        mask[rows - top, cols - left] = 1.0
        lines = contourpy.contour_generator(z=mask, line_type="Separate").lines(0.5)
        out.append([np.column_stack([line[:, 1] + top, line[:, 0] + left]) for line in lines])
    return out


def contours_background(estimates: Estimates) -> tuple[np.ndarray, str]:
    """The image the outlines are drawn on by default, and its name for the title.

    CNMF-E's seeding image, the correlation image times the peak-to-noise
    image (Zhou et al. 2018), where both are stored: cells stand out of it on
    any movie. The correlation image alone does not do on movies already
    smoothed or median-filtered (MiniAn's demo: correlation 0.50 / 0.88 / 0.99
    at its 5th / 50th / 95th percentiles), where every patch of the field looks
    like a bright soma (benchmarks/real.md, Session 12). Else the correlation
    image, else a black frame.

    Parameters
    ----------
    estimates : Estimates
        ``Cn``, ``pnr`` and ``dims`` are read.

    Returns
    -------
    image : ndarray of float32, shape (H, W)
    name : str

    Examples
    --------
    >>> from ace_neuro.cnmfe.estimates import Estimates
    >>> est = Estimates(A=scipy.sparse.csc_matrix((4, 0)), C=np.zeros((0, 3)), dims=(2, 2), frame_rate=20.0,
    ...                 Cn=np.full((2, 2), 0.5, np.float32), pnr=np.full((2, 2), 8.0, np.float32))
    >>> image, name = contours_background(est)
    >>> float(image[0, 0]), name
    (4.0, 'correlation x peak-to-noise image')
    """
    if estimates.Cn is not None and estimates.pnr is not None:
        product = np.asarray(estimates.Cn, np.float32) * np.asarray(estimates.pnr, np.float32)
        return product, "correlation x peak-to-noise image"
    if estimates.Cn is not None:
        return np.asarray(estimates.Cn, np.float32), "correlation image"
    return np.zeros(estimates.dims, np.float32), "black"


def contours_figure(
    estimates: Estimates,
    path: str | os.PathLike,
    *,
    image: np.ndarray | None = None,
    image_name: str | None = None,
    energy: float = 0.9,
) -> None:
    """Draw every component's outline and id over an image, accepted and rejected in two styles.

    Accepted components are drawn in green, rejected ones in red with dashed
    outlines (told apart without colour too); each id (the ``id`` of
    ``components.csv``, the number a curation file uses) is written at the
    footprint's right edge, level with its centre of mass. Before evaluation every component counts as
    accepted.

    Parameters
    ----------
    estimates : Estimates
        ``A``, ``dims`` and, after evaluation, ``idx_components_bad``.
    path : path-like
        PNG written atomically (:func:`ace_neuro.io.images.save_figure`).
    image : ndarray, shape (H, W), optional
        Background image; default :func:`contours_background`.
    image_name : str, optional
        What ``image`` is, for the title (default: the background's own name).
    energy : float
        Fraction of each footprint's squared mass inside its outline
        (:func:`footprint_contours`).
    """
    from ace_neuro.io.images import pyplot

    plt = pyplot()
    from matplotlib import patheffects
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    height, width = estimates.dims
    if image is None:
        image, image_name = contours_background(estimates)
    image_name = image_name or "image"
    image = np.asarray(image, dtype=np.float32)
    if image.shape != (height, width):
        raise ValueError(f"image has shape {image.shape} but the components are on a {(height, width)} frame")
    accepted = estimates.accepted
    centres = estimates.centroids()
    n_comp = estimates.n_components
    size_in = 8.0
    fig, ax = plt.subplots(figsize=(size_in, size_in * height / max(width, 1) + 0.5), dpi=130)
    lo, hi = display_limits(image)
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    # labels shrink as components crowd the frame, within 5..9 points
    font = float(np.clip(9.0 * np.sqrt(60.0 / max(n_comp, 1)), 5.0, 9.0))
    outlines: dict[bool, list[np.ndarray]] = {True: [], False: []}  # (x, y) vertices, drawn as two collections
    for k, lines in enumerate(footprint_contours(estimates.A, estimates.dims, energy=energy)):
        color = ACCEPTED_COLOR if accepted[k] else REJECTED_COLOR
        outlines[bool(accepted[k])].extend(line[:, ::-1] for line in lines)
        if lines and np.all(np.isfinite(centres[k])):  # the id just right of the outline, which stays visible
            right = max(float(line[:, 1].max()) for line in lines)
            ax.text(right + 0.5, centres[k, 0], str(k), color=color, fontsize=font, ha="left", va="center",
                    fontweight="bold", path_effects=[patheffects.withStroke(linewidth=2, foreground="black")])
    for is_accepted, segments in outlines.items():  # one artist per style, not one per outline: draws in a blink
        if segments:
            ax.add_collection(LineCollection(segments, colors=ACCEPTED_COLOR if is_accepted else REJECTED_COLOR,
                                             linewidths=1.1, linestyles="-" if is_accepted else (0, (2, 1.2))))
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_axis_off()
    n_accepted = int(accepted.sum())
    ax.legend(
        handles=[Line2D([], [], color=ACCEPTED_COLOR, lw=1.5, label=f"accepted ({n_accepted})"),
                 Line2D([], [], color=REJECTED_COLOR, lw=1.5, ls=(0, (2, 1.5)), label=f"rejected ({n_comp - n_accepted})")],
        loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False, fontsize=9,
    )
    ax.set_title(f"{n_comp} components on the {image_name} (numbers: component ids)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


#: Points of a line drawn whole; a longer one is drawn as its envelope on this many bins (the figure is ~1,000 px
#: wide, so each pixel column still gets its minimum and maximum).
ENVELOPE_BINS = 2000


def line_envelope(x: np.ndarray, y: np.ndarray, n_bins: int = ENVELOPE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """The points of a long line that a plot needs: each bin's minimum and maximum, in time order.

    Parameters
    ----------
    x, y : ndarray, shape (T,)
        The line (``x`` increasing).
    n_bins : int
        Bins of consecutive points; a line of at most ``2 * n_bins`` points is returned as it is.

    Returns
    -------
    x, y : ndarray
        At most ``2 * n_bins`` points (the first and last points kept), so a figure's memory does not grow with
        the recording's length (matplotlib keeps several float64 copies of every point drawn).

    Examples
    --------
    >>> x, y = line_envelope(np.arange(10.0), np.array([0, 5, 1, 1, -3, 2, 0, 0, 7, 1.0]), n_bins=2)
    >>> x.tolist(), y.tolist()
    ([0.0, 1.0, 4.0, 6.0, 8.0, 9.0], [0.0, 5.0, -3.0, 0.0, 7.0, 1.0])
    """
    x, y = np.asarray(x), np.asarray(y)
    if y.size <= 2 * n_bins:
        return x, y
    edges = np.linspace(0, y.size, n_bins + 1).astype(np.int64)
    keep = [0, y.size - 1]
    for lo, hi in zip(edges[:-1], edges[1:]):
        keep += [lo + int(np.argmin(y[lo:hi])), lo + int(np.argmax(y[lo:hi]))]
    keep = np.unique(keep)
    return x[keep], y[keep]


def traces_figure(estimates: Estimates, path: str | os.PathLike, max_traces: int = 10) -> None:
    """Plot the denoised trace ``C`` over the raw trace ``C + YrA`` of up to ``max_traces`` accepted components.

    Components are taken in decreasing order of SNR when the evaluation has run
    (``SNR_comp``), otherwise in index order; each row is scaled to its own
    range, time in seconds from ``frame_rate``. An estimate without accepted
    components gives a figure that says so.
    """
    from ace_neuro.io.images import pyplot

    plt = pyplot()

    accepted = np.flatnonzero(estimates.accepted)
    if estimates.SNR_comp is not None and accepted.size:
        accepted = accepted[np.argsort(-np.asarray(estimates.SNR_comp)[accepted], kind="stable")]
    shown = accepted[:max_traces]
    n_frames = estimates.C.shape[1]
    time_s = np.arange(n_frames) / float(estimates.frame_rate)
    fig, ax = plt.subplots(figsize=(10, 0.8 + 0.7 * max(len(shown), 1)), dpi=100)
    for row, k in enumerate(shown):
        denoised = np.asarray(estimates.C[k])
        raw = denoised + estimates.YrA[k]
        low, high = float(np.min(raw)), float(np.max(raw))
        scale = high - low if high > low else 1.0
        offset = len(shown) - 1 - row
        ax.plot(*line_envelope(time_s, (raw - low) / scale * 0.9 + offset), color="0.7", lw=0.5)
        ax.plot(*line_envelope(time_s, (denoised - low) / scale * 0.9 + offset), color="C3", lw=0.8)
    ax.set_yticks(np.arange(len(shown)))
    ax.set_yticklabels([str(k) for k in shown[::-1]])
    ax.set_ylabel("component")
    ax.set_xlabel("time (s)")
    if len(shown):
        ax.set_title(f"{len(shown)} of {accepted.size} accepted components: denoised (red) over raw (grey)")
    else:
        ax.set_title("no accepted components")
    fig.tight_layout()
    save_figure(fig, path)
