"""Piecewise-rigid (NoRMCorre) geometry: the patch grid and the smooth shift field.

The frame is covered by overlapping patches of ``strides + overlaps`` pixels
whose starts are ``strides`` apart (the last one flush with the edge). Each
patch gets its own displacement, within ``max_deviation_rigid`` of the frame's
rigid one. The displacement at every pixel is interpolated from the patch
centres: first a cubic spline through the patch values, sampled
``upsample_factor_grid`` times per patch spacing, then linear interpolation to
every pixel (constant beyond the outermost centres). Both steps are linear,
so they reduce to two small matrices computed once per movie: the field of a
frame is ``Wy @ patch_values @ Wx.T``.

References
----------
Pnevmatikakis EA, Giovannucci A (2017). NoRMCorre: An online algorithm for
piecewise rigid motion correction of calcium imaging data. J Neurosci
Methods 291:83-94.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PatchGrid", "patch_grid", "field_matrix", "displacement_field"]


@dataclass(frozen=True)
class PatchGrid:
    """Patches of a frame.

    Attributes
    ----------
    starts_y, starts_x : numpy.ndarray of int
        First row / column of each patch row / column.
    size : (int, int)
        Patch size (rows, cols) = strides + overlaps, clipped to the frame.
    """

    starts_y: np.ndarray
    starts_x: np.ndarray
    size: tuple[int, int]

    @property
    def shape(self) -> tuple[int, int]:
        """Number of patches (rows, cols)."""
        return len(self.starts_y), len(self.starts_x)

    @property
    def centres_y(self) -> np.ndarray:
        """Row coordinate of each patch centre (pixels, float)."""
        return self.starts_y + (self.size[0] - 1) / 2.0

    @property
    def centres_x(self) -> np.ndarray:
        """Column coordinate of each patch centre (pixels, float)."""
        return self.starts_x + (self.size[1] - 1) / 2.0


def _starts(n_pixels: int, stride: int, size: int) -> np.ndarray:
    starts = list(range(0, n_pixels - size + 1, stride))
    if starts[-1] + size < n_pixels:
        starts.append(n_pixels - size)
    return np.asarray(starts, dtype=int)


def patch_grid(frame_shape: tuple[int, int], strides: tuple[int, int], overlaps: tuple[int, int]) -> PatchGrid:
    """Overlapping patches of ``strides + overlaps`` pixels covering a frame.

    Parameters
    ----------
    frame_shape : (int, int)
        Rows, cols of the frame.
    strides, overlaps : (int, int)
        CaImAn's ``strides`` and ``overlaps`` (rows, cols), in pixels.

    Returns
    -------
    PatchGrid

    Raises
    ------
    ValueError
        If the frame is smaller than one patch.

    Examples
    --------
    >>> g = patch_grid((100, 120), (48, 48), (24, 24))
    >>> g.starts_y.tolist(), g.starts_x.tolist(), g.size
    ([0, 28], [0, 48], (72, 72))
    """
    height, width = (int(v) for v in frame_shape)
    size = (int(strides[0]) + int(overlaps[0]), int(strides[1]) + int(overlaps[1]))
    if size[0] > height or size[1] > width:
        raise ValueError(
            f"{height}x{width} frames are smaller than one pw-rigid patch (strides + overlaps = {size[0]}x{size[1]}); "
            "lower strides / overlaps or use rigid registration"
        )
    return PatchGrid(_starts(height, int(strides[0]), size[0]), _starts(width, int(strides[1]), size[1]), size)


def field_matrix(centres: np.ndarray, n_pixels: int, upsample_factor_grid: int) -> np.ndarray:
    """Matrix mapping patch values along one axis to every pixel of that axis.

    Parameters
    ----------
    centres : numpy.ndarray of float, shape (n,)
        Patch centres in pixels, increasing.
    n_pixels : int
        Length of the axis.
    upsample_factor_grid : int
        Cubic-spline samples per patch spacing (1 = linear between centres).

    Returns
    -------
    numpy.ndarray of float32, shape (n_pixels, n)
        Each row sums to one.
    """
    centres = np.asarray(centres, dtype=np.float64)
    n = centres.size
    if n == 1:
        return np.ones((n_pixels, 1), dtype=np.float32)
    f = max(1, int(upsample_factor_grid))
    nodes = np.linspace(0.0, n - 1.0, (n - 1) * f + 1)
    node_pos = np.interp(nodes, np.arange(n), centres)
    from scipy.interpolate import CubicSpline  # noqa: PLC0415 (2 s of imports in every motion worker otherwise)

    spline = CubicSpline(centres, np.eye(n), bc_type="natural" if n < 4 else "not-a-knot")
    cubic = spline(node_pos)  # (n_nodes, n): node values from patch values
    pixels = np.arange(n_pixels, dtype=np.float64)
    right = np.clip(np.searchsorted(node_pos, pixels, side="right"), 1, node_pos.size - 1)
    left = right - 1
    t = np.clip((pixels - node_pos[left]) / (node_pos[right] - node_pos[left]), 0.0, 1.0)
    linear = np.zeros((n_pixels, node_pos.size))
    linear[np.arange(n_pixels), left] = 1.0 - t
    linear[np.arange(n_pixels), right] += t
    return (linear @ cubic).astype(np.float32)


def displacement_field(patch_values: np.ndarray, rows_matrix: np.ndarray, cols_matrix: np.ndarray) -> np.ndarray:
    """Per-pixel field from per-patch values: ``rows_matrix @ patch_values @ cols_matrix.T``.

    Parameters
    ----------
    patch_values : numpy.ndarray, shape (ny, nx)
        One component (rows or cols) of the patch displacements, pixels.
    rows_matrix, cols_matrix : numpy.ndarray of float32, shapes (H, ny), (W, nx)
        From :func:`field_matrix`.

    Returns
    -------
    numpy.ndarray of float32, shape (H, W)
    """
    return (rows_matrix @ np.asarray(patch_values, dtype=np.float32) @ cols_matrix.T).astype(np.float32)
