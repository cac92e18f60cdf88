"""The result of source extraction: footprints, traces and background, and their files.

:class:`Estimates` holds what CNMF-E finds in one recording, with CaImAn's
field names and meanings (``cnm.estimates``), so code written against CaImAn
reads ours unchanged:

* ``A`` - spatial footprints, a ``scipy.sparse.csc_matrix`` of shape
  ``(H*W, K)``; the pixel index flattens ``(row, col)`` in Fortran order
  (``pixel = row + col * H``), as CaImAn and its memory maps do.
* ``C`` ``(K, T)`` denoised traces, ``S`` ``(K, T)`` deconvolved activity,
  ``YrA`` ``(K, T)`` residual traces (``C + YrA`` is the raw trace).
* Background: ``b0`` ``(H*W,)`` constant per pixel, plus the ring
  model ``W`` (sparse, at ``ssub_B`` resolution) and/or ``nb`` low-rank
  components ``b`` ``(H*W, nb)`` / ``f`` ``(nb, T)``; with both, ``b f`` is each
  pixel's slow trend (:mod:`.trend`), removed before the ring model.

Files: :mod:`.estimates_file` (our HDF5 layout, exact round trip) and
:func:`ace_neuro.io.caiman.export_caiman_hdf5` (CaImAn's ``cnm.save()`` layout,
readable by ``caiman.source_extraction.cnmf.cnmf.load_CNMF``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import scipy.sparse

from ace_neuro.io.memmap import frames_to_pixels, pixels_to_frames  # CaImAn pixel order (row + col * H)

__all__ = [
    "Estimates",
    "frames_to_pixels",
    "pixels_to_frames",
    "footprints_to_sparse",
    "downsampled_dims",
    "decimation_matrix",
]

# --------------------------------------------------------------------------- pixel order helpers


def footprints_to_sparse(footprints: np.ndarray) -> scipy.sparse.csc_matrix:
    """Dense footprints ``(K, H, W)`` as CaImAn's sparse ``A`` ``(H*W, K)`` float32.

    Examples
    --------
    >>> fp = np.zeros((1, 2, 3)); fp[0, 1, 2] = 1.0
    >>> A = footprints_to_sparse(fp)
    >>> A.shape, A.indices.tolist()        # row 1 + col 2 * H(=2) = 5
    ((6, 1), [5])
    """
    footprints = np.asarray(footprints, dtype=np.float32)
    if footprints.ndim != 3:
        raise ValueError(f"footprints must have shape (K, H, W), got {footprints.shape}")
    return scipy.sparse.csc_matrix(frames_to_pixels(footprints))


def downsampled_dims(dims: tuple[int, int], ssub: int) -> tuple[int, int]:
    """Frame size after ``ssub`` x ``ssub`` block averaging (partial edge blocks kept)."""
    ssub = int(ssub)
    if ssub < 1:
        raise ValueError(f"ssub must be >= 1, got {ssub}")
    return ((int(dims[0]) - 1) // ssub + 1, (int(dims[1]) - 1) // ssub + 1)


def decimation_matrix(dims: tuple[int, int], ssub: int) -> scipy.sparse.csr_matrix:
    """Sparse block-mean operator from ``H*W`` pixels to the ``ssub``-downsampled grid.

    Pixel ``(r, c)`` belongs to block ``(r // ssub, c // ssub)``; each block is
    the mean of its pixels (edge blocks average the pixels they have). Both
    grids are flattened in Fortran order. The matching upsampling (each pixel
    takes its block's value) is ``(D > 0).T``.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (P_B, H*W), float32
    """
    height, width = (int(d) for d in dims)
    hb, wb = downsampled_dims(dims, ssub)
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    pixel = (rows + cols * height).ravel()
    block = (rows // ssub + (cols // ssub) * hb).ravel()
    counts = np.bincount(block, minlength=hb * wb).astype(np.float32)
    values = 1.0 / counts[block]
    return scipy.sparse.csr_matrix((values.astype(np.float32), (block, pixel)), shape=(hb * wb, height * width))


# --------------------------------------------------------------------------- the container


def _as_float_array(value: Any, dtype=np.float32) -> np.ndarray:
    return np.ascontiguousarray(  # CaImAn's per-component lists / object arrays hold 1-element arrays: their values
        np.frompyfunc(lambda v: np.reshape(v, -1)[0] if np.size(v) == 1 else v, 1, 1)(np.asarray(value, dtype=object))
        .astype(dtype) if isinstance(value, (list, tuple)) or getattr(value, "dtype", None) == object
        else np.asarray(value, dtype=dtype))


@dataclass(eq=False, repr=False)
class Estimates:
    """Footprints, traces and background found in one recording (CaImAn's ``Estimates``).

    Only ``A``, ``C``, ``dims`` and ``frame_rate`` are required; the other
    array fields default to zeros of the right shape (``S``, ``YrA``, ``b0``,
    ``bl``, ``c1``, ``neurons_sn``; ``g`` with no AR coefficient; no low-rank
    background) or ``None``. Shapes are checked on construction (a
    ``ValueError`` names the field, its shape and the expected one). ``K = 0``
    (no neuron found) is valid: ``A`` is ``(H*W, 0)``, ``C`` is ``(0, T)``.

    Attributes
    ----------
    A : scipy.sparse.csc_matrix, shape (H*W, K), float32
        Spatial footprints, pixel index ``row + col * H``.
    C : ndarray, shape (K, T), float32
        Denoised calcium traces (movie intensity units per unit footprint).
    dims : tuple (H, W)
        Frame size in pixels.
    frame_rate : float
        Frames per second (Hz).
    S : ndarray, shape (K, T), float32
        Deconvolved neural activity.
    YrA : ndarray, shape (K, T), float32
        Residual traces: raw trace minus ``C``.
    b0 : ndarray, shape (H*W,), float32
        Constant background per pixel.
    W : scipy.sparse.csr_matrix, shape (P_B, P_B), or None
        Ring-model weights on the ``ssub_B``-downsampled grid
        (``P_B = ceil(H/ssub_B) * ceil(W/ssub_B)``); ``None`` without a ring model.
    ssub_B : int
        Spatial downsampling of the ring model.
    b : ndarray, shape (H*W, nb), float32
        Low-rank spatial background (``nb = 0``: shape ``(H*W, 0)``).
    f : ndarray, shape (nb, T), float32
        Low-rank temporal background.
    bl, c1, neurons_sn : ndarray, shape (K,), float32
        Trace baseline, initial calcium value and noise level per component.
    g : ndarray, shape (K, p), float32
        AR(p) coefficients per component.
    lam : ndarray, shape (K,), float32, or None
        Sparsity penalty used by the deconvolution.
    sn : ndarray, shape (H*W,), float32, or None
        Noise standard deviation per pixel.
    idx_components, idx_components_bad : ndarray of int64, or None
        Accepted / rejected components (set by evaluation); together they
        cover ``range(K)`` exactly once.
    SNR_comp, r_values : ndarray, shape (K,), float32, or None
        Evaluation metrics.
    params : dict
        Parameters that produced these estimates (JSON-serialisable).
    Cn, pnr : ndarray, shape (H, W), float32, or None
        Correlation and peak-to-noise images used for seeding.
    """

    A: scipy.sparse.csc_matrix
    C: np.ndarray
    dims: tuple[int, int]
    frame_rate: float
    S: np.ndarray | None = None
    YrA: np.ndarray | None = None
    b0: np.ndarray | None = None
    W: scipy.sparse.spmatrix | None = None
    ssub_B: int = 1
    b: np.ndarray | None = None
    f: np.ndarray | None = None
    bl: np.ndarray | None = None
    c1: np.ndarray | None = None
    g: np.ndarray | None = None
    neurons_sn: np.ndarray | None = None
    lam: np.ndarray | None = None
    sn: np.ndarray | None = None
    idx_components: np.ndarray | None = None
    idx_components_bad: np.ndarray | None = None
    SNR_comp: np.ndarray | None = None
    r_values: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    Cn: np.ndarray | None = None
    pnr: np.ndarray | None = None

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        if len(tuple(self.dims)) != 2:
            raise ValueError(f"dims must be (H, W), got {self.dims!r}")
        self.dims = (int(self.dims[0]), int(self.dims[1]))
        if min(self.dims) < 1:
            raise ValueError(f"dims must be positive, got {self.dims}")
        self.frame_rate = float(self.frame_rate)
        if not np.isfinite(self.frame_rate) or self.frame_rate <= 0:
            raise ValueError(f"frame_rate must be a positive number of frames per second, got {self.frame_rate}")
        self.ssub_B = int(self.ssub_B)
        if self.ssub_B < 1:
            raise ValueError(f"ssub_B must be >= 1, got {self.ssub_B}")
        n_pixels = self.dims[0] * self.dims[1]

        if not scipy.sparse.issparse(self.A):
            self.A = scipy.sparse.csc_matrix(np.asarray(self.A, dtype=np.float32))
        self.A = scipy.sparse.csc_matrix(self.A, dtype=np.float32)
        self.A.sort_indices()
        self.C = _as_float_array(self.C)
        if self.C.ndim != 2:
            raise ValueError(f"C must have shape (K, T), got {self.C.shape}")
        n_comp, n_frames = self.C.shape
        self._check("A", self.A.shape, (n_pixels, n_comp))

        zeros_kt = lambda: np.zeros((n_comp, n_frames), np.float32)  # noqa: E731
        zeros_k = lambda: np.zeros(n_comp, np.float32)  # noqa: E731
        self.S = zeros_kt() if self.S is None else _as_float_array(self.S)
        self.YrA = zeros_kt() if self.YrA is None else _as_float_array(self.YrA)
        self._check("S", self.S.shape, (n_comp, n_frames))
        self._check("YrA", self.YrA.shape, (n_comp, n_frames))

        self.b0 = np.zeros(n_pixels, np.float32) if self.b0 is None else _as_float_array(self.b0)
        self._check("b0", self.b0.shape, (n_pixels,))
        if self.b is None and self.f is None:
            self.b = np.zeros((n_pixels, 0), np.float32)
            self.f = np.zeros((0, n_frames), np.float32)
        elif self.b is None or self.f is None:
            raise ValueError("b and f come together: give both (low-rank background) or neither")
        else:
            self.b = _as_float_array(self.b)
            self.f = _as_float_array(self.f)
            if self.b.ndim == 1:
                self.b = self.b[:, None]
            if self.f.ndim == 1:
                self.f = self.f[None, :]
            self._check("b", self.b.shape, (n_pixels, self.f.shape[0]))
            self._check("f", self.f.shape, (self.b.shape[1], n_frames))

        if self.W is not None:
            if not scipy.sparse.issparse(self.W):
                raise ValueError(f"W must be a scipy.sparse matrix, got {type(self.W).__name__}")
            self.W = scipy.sparse.csr_matrix(self.W, dtype=np.float32)
            n_ds = int(np.prod(downsampled_dims(self.dims, self.ssub_B)))
            self._check("W", self.W.shape, (n_ds, n_ds), hint=f" (dims {self.dims} at ssub_B={self.ssub_B})")

        for name in ("bl", "c1", "neurons_sn"):
            value = getattr(self, name)
            value = zeros_k() if value is None else _as_float_array(value).reshape(-1)
            self._check(name, value.shape, (n_comp,))
            setattr(self, name, value)
        g = np.zeros((n_comp, 0), np.float32) if self.g is None else _as_float_array(self.g)
        if g.ndim == 1:
            g = g.reshape(n_comp, -1) if n_comp else g.reshape(0, max(g.size, 0))
        if g.ndim != 2 or g.shape[0] != n_comp:
            raise ValueError(f"g must have shape (K, p) = ({n_comp}, p), got {g.shape}")
        self.g = g
        for name, shape in (("lam", (n_comp,)), ("sn", (n_pixels,)), ("SNR_comp", (n_comp,)),
                            ("r_values", (n_comp,)), ("Cn", self.dims), ("pnr", self.dims)):
            value = getattr(self, name)
            if value is not None:
                value = _as_float_array(value)
                self._check(name, value.shape, shape)
                setattr(self, name, value)
        self._check_idx(n_comp)
        if self.params is None:
            self.params = {}
        if not isinstance(self.params, Mapping):
            raise ValueError(f"params must be a dict of parameter: value, got {type(self.params).__name__}")
        self.params = dict(self.params)

    @staticmethod
    def _check(name: str, shape: tuple, expected: tuple, hint: str = "") -> None:
        if tuple(shape) != tuple(expected):
            raise ValueError(f"Estimates.{name} has shape {tuple(shape)}, expected {tuple(expected)}{hint}")

    def _check_idx(self, n_comp: int) -> None:
        good, bad = self.idx_components, self.idx_components_bad
        if good is None and bad is None:
            return
        if good is None or bad is None:
            raise ValueError("idx_components and idx_components_bad come together: set both or neither")
        good = np.asarray(good).reshape(-1)
        bad = np.asarray(bad).reshape(-1)
        for name, idx in (("idx_components", good), ("idx_components_bad", bad)):
            if idx.size and (not np.issubdtype(idx.dtype, np.integer) and not np.all(np.mod(idx, 1) == 0)):
                raise ValueError(f"Estimates.{name} must hold integer component indices, got {idx.dtype}")
        good = good.astype(np.int64)
        bad = bad.astype(np.int64)
        together = np.concatenate([good, bad])
        if together.size != n_comp or not np.array_equal(np.sort(together), np.arange(n_comp)):
            raise ValueError(
                f"idx_components and idx_components_bad must split range(K={n_comp}) exactly once; "
                f"got {good.size} accepted and {bad.size} rejected indices"
            )
        self.idx_components = np.sort(good)
        self.idx_components_bad = np.sort(bad)

    def __repr__(self) -> str:
        background = f"ring W at ssub_B={self.ssub_B}" if self.W is not None else f"nb={self.nb}"
        if self.W is not None and self.nb:
            background = f"trend of degree 1-{self.nb} + {background}"
        evaluation = f", {int(self.accepted.sum())} accepted" if self.evaluated else ""
        return (
            f"Estimates(K={self.n_components}, T={self.n_frames}, dims={self.dims}, "
            f"frame_rate={self.frame_rate:g} Hz, background: b0 + {background}{evaluation})"
        )

    # ------------------------------------------------------------------ sizes and views
    @property
    def n_components(self) -> int:
        """Number of components K."""
        return int(self.C.shape[0])

    @property
    def n_frames(self) -> int:
        """Number of frames T."""
        return int(self.C.shape[1])

    @property
    def n_pixels(self) -> int:
        """Number of pixels H*W."""
        return self.dims[0] * self.dims[1]

    @property
    def nb(self) -> int:
        """Number of low-rank background components."""
        return int(self.b.shape[1])

    @property
    def evaluated(self) -> bool:
        """Whether evaluation has set ``idx_components``."""
        return self.idx_components is not None

    @property
    def accepted(self) -> np.ndarray:
        """Boolean mask (K,) of accepted components; all ``True`` before evaluation."""
        mask = np.ones(self.n_components, dtype=bool)
        if self.idx_components_bad is not None:
            mask[self.idx_components_bad] = False
        return mask

    def footprint_image(self, k: int) -> np.ndarray:
        """Footprint ``k`` as an ``(H, W)`` float32 image."""
        if not 0 <= int(k) < self.n_components:
            raise IndexError(f"component {k} out of range for K={self.n_components}")
        column = self.A[:, int(k)].toarray().ravel()
        return column.reshape(self.dims, order="F")

    def footprints_3d(self) -> np.ndarray:
        """All footprints as a dense ``(K, H, W)`` float32 array (for small uses: K*H*W floats)."""
        dense = self.A.T.toarray()
        return dense.reshape(self.n_components, self.dims[1], self.dims[0]).transpose(0, 2, 1)

    def centroids(self) -> np.ndarray:
        """Footprint-weighted centre of mass of each component, ``(K, 2)`` as (row, col) in pixels.

        Components whose footprint sums to zero get ``nan``.
        """
        height = self.dims[0]
        out = np.full((self.n_components, 2), np.nan)
        A = self.A
        for k in range(self.n_components):
            sl = slice(A.indptr[k], A.indptr[k + 1])
            weights = A.data[sl].astype(np.float64)
            total = weights.sum()
            if total <= 0:
                continue
            pix = A.indices[sl]
            out[k, 0] = np.dot(weights, pix % height) / total
            out[k, 1] = np.dot(weights, pix // height) / total
        return out

    def sizes(self) -> np.ndarray:
        """Number of non-zero pixels of each footprint, ``(K,)`` int64."""
        return np.diff(self.A.indptr).astype(np.int64)

    def replace(self, **changes: Any) -> "Estimates":
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def select(self, components: np.ndarray) -> "Estimates":
        """A new ``Estimates`` keeping only ``components`` (indices or a boolean mask), in that order.

        Evaluation results are kept for the kept components; indices are
        renumbered.
        """
        idx = np.asarray(components)
        if idx.dtype == bool:
            if idx.shape != (self.n_components,):
                raise ValueError(f"boolean mask must have shape ({self.n_components},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_components):
            raise IndexError(f"component indices out of range for K={self.n_components}")
        changes: dict[str, Any] = {
            "A": self.A[:, idx],
            "C": self.C[idx],
            "S": self.S[idx],
            "YrA": self.YrA[idx],
            "bl": self.bl[idx],
            "c1": self.c1[idx],
            "g": self.g[idx],
            "neurons_sn": self.neurons_sn[idx],
            "lam": None if self.lam is None else self.lam[idx],
            "SNR_comp": None if self.SNR_comp is None else self.SNR_comp[idx],
            "r_values": None if self.r_values is None else self.r_values[idx],
        }
        if self.evaluated:
            keep = self.accepted[idx]
            changes["idx_components"] = np.flatnonzero(keep)
            changes["idx_components_bad"] = np.flatnonzero(~keep)
        return self.replace(**changes)

    # ------------------------------------------------------------------ background model
    def background(self, pixels: np.ndarray, frames: np.ndarray | slice) -> np.ndarray:
        """Background of some frames, ``(H*W, n)`` float32.

        ``B = b0 + b f + U W D (Y - A C - b0 - b f)`` where ``D`` is the ``ssub_B``
        block mean (:func:`decimation_matrix`), ``U`` repeats each block value
        over its pixels, and the ring term is present only when ``W`` is set
        (CaImAn's ``Estimates.compute_background`` convention). With both, ``b f``
        is each pixel's slow trend (:mod:`.trend`), which the ring model never saw.

        Parameters
        ----------
        pixels : ndarray, shape (H*W, n)
            The movie at those frames, pixels in Fortran order
            (see :func:`frames_to_pixels`).
        frames : array of int or slice
            Which frames of the recording ``pixels`` holds (to index ``C``, ``f``).
        """
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim != 2 or pixels.shape[0] != self.n_pixels:
            raise ValueError(f"pixels must have shape ({self.n_pixels}, n), got {pixels.shape}")
        C = self.C[:, frames]
        if C.shape[1] != pixels.shape[1]:
            raise ValueError(f"{pixels.shape[1]} frames of data but {C.shape[1]} frames selected")
        out = np.repeat(self.b0[:, None], pixels.shape[1], axis=1)
        trend = np.asarray(self.b @ self.f[:, frames], dtype=np.float32) if self.nb else None
        if self.W is not None:
            residual = pixels - self.b0[:, None]
            if trend is not None:
                residual -= trend
            if self.n_components:
                residual -= np.asarray(self.A @ C, dtype=np.float32)
            if self.ssub_B == 1:
                out += self.W @ residual
            else:
                down = decimation_matrix(self.dims, self.ssub_B)
                up = (down > 0).T.astype(np.float32)
                out += up @ (self.W @ (down @ residual))
        if trend is not None:
            out += trend
        return out
