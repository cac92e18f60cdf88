"""Per-session transforms between a session's frame and the common space, and warping with them.

A :class:`SessionTransform` maps a session pixel ``p`` (row, col) into the common space in two steps:

1. rigid: ``q = R(angle) (p - c_s) + c_c + shift``, with ``c_s`` the session frame's centre, ``c_c`` the common
   space's origin offset (``centre``) and ``R`` a rotation by ``angle_deg`` (counter-clockwise in an image shown
   with row 0 at the top);
2. non-rigid: the common pixel ``x`` holds the rigidly mapped point ``q = x + field(x)``, so ``field`` (2, Hc, Wc)
   is a smooth displacement in common-space pixels (zero for a rigid-only transform).

:meth:`SessionTransform.common_to_session` gives, for every common pixel, where to read it in the session
(``cv2.remap`` maps); :meth:`SessionTransform.session_to_common` the inverse (the field inverted by fixed-point
iteration, exact to well below a pixel for smooth fields).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np
import scipy.sparse

__all__ = ["SessionTransform", "rotation_matrix", "warp_image", "warp_footprints", "warp_to_session"]


def rotation_matrix(angle_deg: float) -> np.ndarray:
    """(2, 2) rotation of (row, col) vectors by ``angle_deg`` degrees (counter-clockwise on screen)."""
    a = np.deg2rad(angle_deg)
    # In (x=col, y=row-down) a counter-clockwise turn on screen is x' = x cos + y sin, y' = -x sin + y cos.
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


@dataclasses.dataclass
class SessionTransform:
    """Session frame -> common space: a rotation and translation, then a smooth displacement field.

    Attributes
    ----------
    session_shape : (H, W)
    common_shape : (Hc, Wc)
    angle_deg : float
        Rotation (degrees).
    shift : ndarray (2,) float64
        Translation (rows, cols) in common-space pixels, after the rotation about the session's centre.
    field : ndarray (2, Hc, Wc) float32 or None
        Non-rigid displacement (rows, cols) in pixels; None for rigid only.
    """

    session_shape: tuple[int, int]
    common_shape: tuple[int, int]
    angle_deg: float = 0.0
    shift: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(2))
    field: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.session_shape = (int(self.session_shape[0]), int(self.session_shape[1]))
        self.common_shape = (int(self.common_shape[0]), int(self.common_shape[1]))
        self.angle_deg = float(self.angle_deg)
        self.shift = np.asarray(self.shift, dtype=np.float64).reshape(2)
        if self.field is not None:
            self.field = np.asarray(self.field, dtype=np.float32)
            if self.field.shape != (2, *self.common_shape):
                raise ValueError(f"field is {self.field.shape}, expected (2, {self.common_shape[0]}, "
                                 f"{self.common_shape[1]})")

    @property
    def session_centre(self) -> np.ndarray:
        return (np.asarray(self.session_shape, dtype=np.float64) - 1) / 2

    def rigid_points(self, points: np.ndarray) -> np.ndarray:
        """Rigid part applied to (n, 2) session points (row, col) -> common points."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return (points - self.session_centre) @ rotation_matrix(self.angle_deg).T + self.shift

    def rigid_inverse_points(self, points: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`rigid_points`: (n, 2) common points -> session points."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return (points - self.shift) @ rotation_matrix(self.angle_deg) + self.session_centre

    def common_to_session(self) -> np.ndarray:
        """(2, Hc, Wc) float32: session (row, col) read at every common pixel."""
        rows = np.arange(self.common_shape[0], dtype=np.float64)[:, None] - self.shift[0]
        cols = np.arange(self.common_shape[1], dtype=np.float64)[None, :] - self.shift[1]
        if self.field is not None:
            rows = rows + self.field[0]
            cols = cols + self.field[1]
        rows, cols = np.broadcast_arrays(rows, cols)
        cos, sin = np.cos(np.deg2rad(self.angle_deg)), np.sin(np.deg2rad(self.angle_deg))
        centre = self.session_centre
        # R^-1 applied to (rows, cols), elementwise (as rigid_inverse_points)
        return np.stack([cos * rows + sin * cols + centre[0], -sin * rows + cos * cols + centre[1]]).astype(
            np.float32)

    def session_to_common(self, n_iterations: int = 8) -> np.ndarray:
        """(2, H, W) float32: common (row, col) of every session pixel (inverse of the field by iteration)."""
        rows, cols = np.mgrid[0:self.session_shape[0], 0:self.session_shape[1]].astype(np.float64)
        q = self.rigid_points(np.stack([rows.ravel(), cols.ravel()], axis=1)).T.reshape(2, *self.session_shape)
        q = q.astype(np.float32)
        if self.field is None:
            return q
        x = q.copy()
        for _ in range(n_iterations):
            d_rows = cv2.remap(self.field[0], x[1], x[0], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            d_cols = cv2.remap(self.field[1], x[1], x[0], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            x = np.stack([q[0] - d_rows, q[1] - d_cols])
        return x

    def to_dict(self) -> dict[str, Any]:
        return {"session_shape": np.asarray(self.session_shape), "common_shape": np.asarray(self.common_shape),
                "angle_deg": self.angle_deg, "shift": self.shift, "field": self.field}


def warp_image(image: np.ndarray, coordinates: np.ndarray, *, order: str = "linear") -> np.ndarray:
    """Read ``image`` (H, W) at ``coordinates`` (2, h, w) (row, col); outside the image is 0.

    Returns
    -------
    ndarray (h, w) float32
    """
    interp = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC}[order]
    image = np.ascontiguousarray(image, dtype=np.float32)
    return cv2.remap(image, np.ascontiguousarray(coordinates[1]), np.ascontiguousarray(coordinates[0]), interp,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def warp_footprints(footprints: Any, source_shape: tuple[int, int], coordinates: np.ndarray,
                    inverse: np.ndarray | None = None, *, margin: int = 3,
                    min_fraction: float = 1e-3) -> scipy.sparse.csr_matrix:
    """Warp footprints from a source frame into a target frame given by ``coordinates``.

    Each footprint is resampled only over the target window its support maps to, so the cost is
    proportional to the footprints' size, not the frame's.

    Parameters
    ----------
    footprints : sparse (K, Hs*Ws) or ndarray (K, Hs, Ws)
        Source footprints (row-major pixels).
    source_shape : (Hs, Ws)
    coordinates : ndarray (2, Ht, Wt)
        Source (row, col) of every target pixel.
    inverse : ndarray (2, Hs, Ws), optional
        Target (row, col) of every source pixel, to find each footprint's target window (computed from
        ``coordinates`` when omitted: a nearest-pixel scatter, slower).
    margin : int
        Pixels added around each window.
    min_fraction : float
        Target values below this fraction of a footprint's maximum are dropped (keeps the result sparse).

    Returns
    -------
    scipy.sparse.csr_matrix (K, Ht*Wt) float32
    """
    src_h, src_w = int(source_shape[0]), int(source_shape[1])
    if scipy.sparse.issparse(footprints):
        rows_src = scipy.sparse.csr_matrix(footprints, dtype=np.float32)
    else:
        dense = np.asarray(footprints, dtype=np.float32)
        rows_src = scipy.sparse.csr_matrix(dense.reshape(dense.shape[0], -1))
    if rows_src.shape[1] != src_h * src_w:
        raise ValueError(f"footprints have {rows_src.shape[1]} pixels, source shape {source_shape} has "
                         f"{src_h * src_w}")
    tgt_h, tgt_w = coordinates.shape[1:]
    if inverse is None:
        inverse = _scatter_inverse(coordinates, (src_h, src_w))
    inv_r, inv_c = inverse[0].ravel(), inverse[1].ravel()
    data, indices, indptr = [], [], [0]
    for k in range(rows_src.shape[0]):
        lo, hi = rows_src.indptr[k], rows_src.indptr[k + 1]
        pix, val = rows_src.indices[lo:hi], rows_src.data[lo:hi]
        keep = np.isfinite(inv_r[pix]) if hi > lo else np.zeros(0, bool)
        if not keep.any() or val.max() <= 0:
            indptr.append(indptr[-1])
            continue
        tr, tc = inv_r[pix[keep]], inv_c[pix[keep]]
        r0, r1 = max(int(np.floor(tr.min())) - margin, 0), min(int(np.ceil(tr.max())) + margin + 1, tgt_h)
        c0, c1 = max(int(np.floor(tc.min())) - margin, 0), min(int(np.ceil(tc.max())) + margin + 1, tgt_w)
        if r0 >= r1 or c0 >= c1:
            indptr.append(indptr[-1])
            continue
        window = coordinates[:, r0:r1, c0:c1]
        sr, sc = pix // src_w, pix % src_w
        s0, s1 = sr.min(), sr.max() + 1
        t0, t1 = sc.min(), sc.max() + 1
        crop = np.zeros((s1 - s0, t1 - t0), np.float32)
        crop[sr - s0, sc - t0] = val
        local = np.stack([window[0] - np.float32(s0), window[1] - np.float32(t0)]).astype(np.float32)
        out = warp_image(crop, local)
        out[out < min_fraction * val.max()] = 0
        rr, cc = np.nonzero(out)
        indices.append((rr + r0) * tgt_w + (cc + c0))
        data.append(out[rr, cc])
        indptr.append(indptr[-1] + rr.size)
    flat_idx = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    flat_data = np.concatenate(data) if data else np.zeros(0, np.float32)
    out = scipy.sparse.csr_matrix((flat_data, flat_idx, np.asarray(indptr)), shape=(rows_src.shape[0], tgt_h * tgt_w))
    out.sort_indices()
    return out


def _scatter_inverse(coordinates: np.ndarray, source_shape: tuple[int, int]) -> np.ndarray:
    """Approximate inverse map by scattering every target pixel to its nearest source pixel (NaN where none)."""
    inverse = np.full((2, *source_shape), np.nan, np.float32)
    rr, cc = np.mgrid[0:coordinates.shape[1], 0:coordinates.shape[2]]
    sr = np.rint(coordinates[0]).astype(np.int64)
    sc = np.rint(coordinates[1]).astype(np.int64)
    ok = (sr >= 0) & (sr < source_shape[0]) & (sc >= 0) & (sc < source_shape[1])
    inverse[0][sr[ok], sc[ok]] = rr[ok]
    inverse[1][sr[ok], sc[ok]] = cc[ok]
    return inverse


def warp_to_session(footprints_common: Any, transform: SessionTransform,
                    shape: tuple[int, int] | None = None) -> Any:
    """Footprints in the common space -> the frame of the session ``transform`` belongs to.

    Parameters
    ----------
    footprints_common : ndarray (N, Hc, Wc) or sparse (N, Hc*Wc)
        E.g. :attr:`Registration.common_footprints`.
    transform : SessionTransform
        The session's transform (``Registration.transforms[i]``).
    shape : (H, W), optional
        Checked against the transform's session shape.

    Returns
    -------
    ndarray (N, H, W) float32 for a dense input, ``scipy.sparse.csr_matrix`` (N, H*W) for a sparse one.
    """
    if shape is not None and tuple(shape) != transform.session_shape:
        raise ValueError(f"shape {tuple(shape)} is not the transform's session shape {transform.session_shape}")
    sparse_in = scipy.sparse.issparse(footprints_common)
    warped = warp_footprints(footprints_common, transform.common_shape, transform.session_to_common(),
                             inverse=transform.common_to_session())
    if sparse_in:
        return warped
    return warped.toarray().reshape(warped.shape[0], *transform.session_shape)
