"""Union re-extraction: every tracked cell's traces in one session, with its footprint held fixed.

After registration, a subject's tracked cells (the union of the cells found in any session) are mapped into each
session's frame; :func:`reextract_traces` then fits only their traces, with the CNMF-E engine's own pieces:

1. one pass over the motion-corrected movie for each pixel's mean and the first traces: the least-squares fit
   of the movie filtered by CNMF-E's seeding filter (``gSig``, ``gSiz``: a zero-sum kernel that removes the
   smooth one-photon background) by the footprints filtered alike, clipped at 0; then the constant background
   ``b0 = mean - A mean(C)``;
2. ``rounds`` times: the one-photon ring-model background ``B = W (Y - A C - b0)`` re-fitted in one pass
   (:meth:`ace_neuro.cnmfe.passes.MoviePasses.fit_background`), then the temporal update in one pass
   (:func:`ace_neuro.cnmfe.fit.temporal_update`: ``A^T (Y - B - b0)``, block-coordinate traces, each denoised
   and deconvolved by OASIS).

The footprints never change, so a cell silent in a session still gets that session's traces: flat, at its
noise level. Memory is the CNMF-E engine's: a few chunks of frames, per-pixel sums, the ring statistics and the
``N x T`` traces; nothing else grows with the number of frames. ``1 + 2 * rounds`` passes over the movie (the
CNMF-E fit makes about a dozen).

A tracked cell whose footprint has no pixel in the session's field of view (it left the field) keeps its row,
with NaN traces and ``in_field`` false.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np
import scipy.linalg
import scipy.sparse

from ace_neuro.cnmfe.estimates import footprints_to_sparse
from ace_neuro.cnmfe.estimates_file import write_sparse
from ace_neuro.cnmfe.filters import center_psf_kernel
from ace_neuro.cnmfe.fit import constant_background, movie_passes, temporal_update
from ace_neuro.cnmfe.params import CnmfeOptions, resolve_tsub
from ace_neuro.cnmfe.passes import ModelState
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.io.atomic import atomic_path

__all__ = ["Reextraction", "union_footprints", "reextract_traces", "save_reextraction", "load_reextraction",
           "FORMAT_NAME"]

logger = logging.getLogger(__name__)

#: Root attribute ``format`` of a re-extraction file.
FORMAT_NAME = "ace_neuro.reextraction"


@dataclass
class Reextraction:
    """Traces of every tracked cell in one session.

    Attributes
    ----------
    tracked_cell_id : ndarray (N,) int64
        Global id of each tracked cell (the registration's row).
    session_component : ndarray (N,) int64
        The cell's component in the session's own estimates, -1 where the session did not find it.
    A : csc_matrix (H*W, N) float32
        Fixed footprints in the session's frame, unit norm (Fortran pixel order, as CaImAn's ``A``).
    C, YrA, S : ndarray (N, T) float32
        Denoised trace, residual (raw trace = ``C + YrA``) and deconvolved activity; NaN rows for cells
        outside the field of view.
    in_field : ndarray (N,) bool
    b0 : ndarray (H*W,) float32
        Constant background; ``W`` the ring weights (``ssub_B`` grid) or None.
    """

    dims: tuple[int, int]
    frame_rate: float
    tracked_cell_id: np.ndarray
    session_component: np.ndarray
    A: scipy.sparse.csc_matrix
    C: np.ndarray
    YrA: np.ndarray
    S: np.ndarray
    in_field: np.ndarray
    b0: np.ndarray
    W: scipy.sparse.csr_matrix | None
    neurons_sn: np.ndarray
    g: np.ndarray
    ssub_B: int = 1

    @property
    def raw(self) -> np.ndarray:
        """Raw traces ``C + YrA``, (N, T) float32."""
        return self.C + self.YrA


def union_footprints(registered, session_component: np.ndarray, own: scipy.sparse.spmatrix | None = None, *,
                     shape: tuple[int, int] | None = None) -> scipy.sparse.csc_matrix:
    """The tracked cells' footprints in a session's frame, ``(H*W, N)`` float32 (Fortran pixel order).

    Parameters
    ----------
    registered : ndarray (N, H, W), or sparse (N, H*W) with row-major pixels and ``shape``
        Every tracked cell's footprint mapped into the session's frame
        (:func:`ace_neuro.tracking.warp_to_session` of the registration's common footprints).
    session_component : ndarray, shape (N,) int
        The cell's component in the session's estimates, -1 where absent.
    own : sparse (H*W, K), optional
        The session's own footprints (its estimates' ``A``, Fortran pixel order): where a cell was found in the
        session, its own footprint is used rather than the registered one (it is what that session's data showed).
    shape : (H, W), optional
        Frame shape; needed for sparse ``registered``.

    Returns
    -------
    scipy.sparse.csc_matrix
        Non-negative footprints; a column is empty where the cell has no pixel in the field.
    """
    session_component = np.asarray(session_component, np.int64)
    if scipy.sparse.issparse(registered):
        if shape is None:
            raise ValueError("sparse registered footprints need shape=(H, W)")
        h, w = (int(v) for v in shape)
        rows = scipy.sparse.coo_matrix(registered, dtype=np.float32)
        if rows.shape[1] != h * w:
            raise ValueError(f"registered footprints have {rows.shape[1]} pixels, shape {shape} has {h * w}")
        fortran = (rows.col % w) * h + rows.col // w  # row-major (r*W + c) -> Fortran (r + c*H)
        A = scipy.sparse.csc_matrix((np.maximum(rows.data, 0), (fortran, rows.row)), shape=(h * w, rows.shape[0]))
    else:
        registered = np.asarray(registered, np.float32)
        if registered.ndim != 3:
            raise ValueError(f"registered footprints must be (N, H, W), got {registered.shape}")
        A = footprints_to_sparse(np.maximum(registered, 0.0))
    if A.shape[1] != session_component.shape[0]:
        raise ValueError(f"{A.shape[1]} registered footprints and {session_component.shape[0]} session components "
                         "disagree: need one component id (or -1) per tracked cell")
    if own is None:
        return A
    own = scipy.sparse.csc_matrix(own, dtype=np.float32)
    if own.shape[0] != A.shape[0]:
        raise ValueError(f"the session's own footprints have {own.shape[0]} pixels, the registered ones {A.shape[0]}")
    found = np.flatnonzero(session_component >= 0)
    if found.size and session_component[found].max() >= own.shape[1]:
        raise ValueError(f"session component {session_component[found].max()} does not exist: the session's "
                         f"estimates have {own.shape[1]} components")
    cols = [own[:, session_component[n]] if session_component[n] >= 0 else A[:, n] for n in range(A.shape[1])]
    return scipy.sparse.hstack(cols, format="csc", dtype=np.float32) if cols else A


def _unit_columns(A: scipy.sparse.csc_matrix) -> tuple[scipy.sparse.csc_matrix, np.ndarray]:
    """Unit-norm columns (empty columns stay empty) and which columns have pixels."""
    A = scipy.sparse.csc_matrix(A, dtype=np.float32)
    A.eliminate_zeros()
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=0)).ravel())
    present = norms > 0
    scale = np.where(present, 1.0 / np.where(present, norms, 1.0), 0.0).astype(np.float32)
    A = scipy.sparse.csc_matrix(A @ scipy.sparse.diags(scale))
    A.sort_indices()
    return A, present


def _filtered_footprints(A: scipy.sparse.csc_matrix, dims: tuple[int, int], kernel: np.ndarray):
    """``K A_k`` and ``K^T K A_k`` for every column (``K`` the seeding filter), as sparse ``(n, N)`` matrices.

    The filter sums to zero and removes what is smoother than a cell, so ``(K A)^T (K Y) = (K^T K A)^T Y`` is
    the data's projection with the one-photon background filtered out.
    """
    h, w = dims
    half = (kernel.shape[0] // 2 * 2, kernel.shape[1] // 2 * 2)  # twice the radius: room for both filterings
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])
    once, twice = [], []
    for k in range(A.shape[1]):
        pix, val = A.indices[A.indptr[k]:A.indptr[k + 1]], A.data[A.indptr[k]:A.indptr[k + 1]]
        rows, cols = pix % h, pix // h
        r0, r1 = max(0, rows.min() - half[0]), min(h, rows.max() + half[0] + 1)
        c0, c1 = max(0, cols.min() - half[1]), min(w, cols.max() + half[1] + 1)
        img = np.zeros((r1 - r0, c1 - c0), np.float32)
        img[rows - r0, cols - c0] = val
        f1 = cv2.filter2D(img, cv2.CV_32F, kernel, borderType=cv2.BORDER_CONSTANT)
        f2 = cv2.filter2D(f1, cv2.CV_32F, flipped, borderType=cv2.BORDER_CONSTANT)
        for out, image in ((once, f1), (twice, f2)):
            full = np.zeros((h, w), np.float32)
            full[r0:r1, c0:c1] = image
            out.append(scipy.sparse.csc_matrix(full.reshape(-1, 1, order="F")))
    n = h * w
    stack = lambda cols: scipy.sparse.hstack(cols, format="csc") if cols else scipy.sparse.csc_matrix((n, 0))  # noqa: E731
    return stack(once), stack(twice)


def _first_traces(passes, A: scipy.sparse.csc_matrix, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel means ``(n,)`` and first traces ``(K, T)`` of the fixed footprints (one pass).

    The traces are the least-squares fit of the spatially filtered movie by the filtered footprints (the
    filter removes the smooth one-photon background: CNMF-E's seeding filter), each shifted so that its
    8th percentile is 0 and clipped at 0.
    """
    K, T = A.shape[1], passes.T
    filtered, projector = _filtered_footprints(A, passes.dims, kernel)
    Pt = scipy.sparse.csr_matrix(projector.T, dtype=np.float32)
    total = np.zeros(passes.n, np.float64)
    YF = np.zeros((K, T), np.float32)

    def project(y: np.ndarray, t0: int, t1: int):
        return y.sum(axis=1, dtype=np.float64), np.asarray(Pt @ y, np.float32)

    for t0, t1, (sums, yf) in passes.raw_chunks(1, "initial traces", project):
        total += sums
        YF[:, t0:t1] = yf
    mean = (total / max(T, 1)).astype(np.float32)
    C = np.zeros((K, T), np.float32)
    if K:
        FF = (filtered.T @ filtered).toarray().astype(np.float64)
        FF[np.diag_indices_from(FF)] += 1e-6 * max(float(np.trace(FF)) / K, 1e-12)
        factor = scipy.linalg.cho_factor(FF)
        step = max(1, int(2**25 // (8 * K)))  # frames solved at a time: a 32 MB float64 block
        for t0 in range(0, T, step):
            C[:, t0:t0 + step] = scipy.linalg.cho_solve(factor, YF[:, t0:t0 + step].astype(np.float64))
        C -= np.percentile(C, 8, axis=1, keepdims=True)  # the trace's floor at 0: the baseline goes to b0
        np.maximum(C, 0.0, out=C)
    return mean, C


def reextract_traces(
    source: MovieSource,
    footprints: scipy.sparse.spmatrix,
    options: CnmfeOptions,
    *,
    frame_rate: float,
    rounds: int = 2,
    threads: int = 1,
    log: logging.Logger | None = None,
) -> tuple[ModelState, np.ndarray]:
    """Traces of fixed ``footprints`` in a movie, with the one-photon ring background (streamed).

    Parameters
    ----------
    source : MovieSource
        The session's motion-corrected movie (:meth:`MovieSource.from_path`).
    footprints : sparse (H*W, N)
        Fixed footprints, Fortran pixel order (:func:`union_footprints`); empty columns are allowed.
    options : CnmfeOptions
        The session's CNMF-E options: ``cnmfe_chunk_mb``, the background's ``ssub_B``, ``ring_size_factor``
        with ``gSiz``, ``tsub`` (the background is fitted on ``tsub``-averaged frames), the temporal group
        (``p``, ``decay_time``, ``bas_nonneg``, ``s_min``) and the noise group.
    frame_rate : float
        Hz (for ``decay_time``).
    rounds : int
        Background re-fits, each followed by a temporal update (>= 1).
    threads : int
        Threads reading and processing chunks.

    Returns
    -------
    state : ModelState
        ``A`` (unit-norm columns, the empty ones kept), ``C``, ``b0``, ``W`` and ``traces`` (``TraceResult``:
        ``C``, ``S``, ``YrA``, ``neurons_sn``, ``g``), rows in the order of ``footprints``.
    in_field : ndarray (N,) bool
        Columns that have pixels (the others' rows are zeros in ``state``).
    """
    log = log or logger
    if int(rounds) < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if footprints.shape[0] != source.n_pixels:
        raise ValueError(f"footprints have {footprints.shape[0]} pixels, the movie {source.dims} has "
                         f"{source.n_pixels}: were they mapped into this session's frame?")
    if isinstance(options.gSig, str) or isinstance(options.gSiz, str):
        raise ValueError("reextract needs the neuron size the session's fit used (gSig / gSiz are 'auto'): give "
                         "options with the fit's recorded values (cnmfe.estimates_file.recorded_options)")
    A_all, present = _unit_columns(footprints)
    keep = np.flatnonzero(present)
    A = scipy.sparse.csc_matrix(A_all[:, keep])
    options = resolve_tsub(options, frame_rate)  # a fit recorded before tsub: auto holds its number
    passes = movie_passes(source, options, threads)
    passes.label = "reextract"
    log.info("reextract: %d tracked cells (%d in the field of view), %d frames of %dx%d, %d rounds",
             A_all.shape[1], keep.size, passes.T, *passes.dims, rounds)
    kernel = center_psf_kernel(options.seeding.gSig, options.seeding.gSiz)
    mean, C = _first_traces(passes, A, kernel)
    passes.pixel_mean = mean
    state = ModelState(A, C, constant_background(mean, A, C), None, None)
    if keep.size == 0:  # no tracked cell in this field of view: nothing to fit
        return state, present
    for r in range(int(rounds)):
        state.W = passes.fit_background(state)
        state = temporal_update(passes, state, frame_rate=frame_rate, temporal=options.temporal, noise=options.noise)
        log.info("reextract: round %d of %d done", r + 1, rounds)
    return state, present


def _expand_rows(values: np.ndarray, present: np.ndarray, fill: float) -> np.ndarray:
    out = np.full((present.size,) + values.shape[1:], fill, np.float32)
    out[present] = values
    return out


def reextraction_from_state(state: ModelState, present: np.ndarray, *, footprints: scipy.sparse.spmatrix,
                            tracked_cell_id: np.ndarray, session_component: np.ndarray, dims: tuple[int, int],
                            frame_rate: float, n_frames: int, ssub_B: int) -> Reextraction:
    """Gather :func:`reextract_traces`'s result into a :class:`Reextraction` (NaN rows outside the field)."""
    A_all, _ = _unit_columns(footprints)
    tr = state.traces
    if tr is None:  # no cell in the field
        empty = np.zeros((0, n_frames), np.float32)
        C = S = YrA = empty
        sn, g = np.zeros(0, np.float32), np.zeros((0, 0), np.float32)
    else:
        C, S, YrA, sn, g = tr.C, tr.S, tr.YrA, tr.neurons_sn, tr.g
    return Reextraction(
        dims=tuple(int(d) for d in dims), frame_rate=float(frame_rate),
        tracked_cell_id=np.asarray(tracked_cell_id, np.int64), session_component=np.asarray(session_component, np.int64),
        A=A_all, C=_expand_rows(C, present, np.nan), YrA=_expand_rows(YrA, present, np.nan),
        S=_expand_rows(S, present, np.nan), in_field=np.asarray(present, bool), b0=np.asarray(state.b0, np.float32),
        W=state.W, neurons_sn=_expand_rows(sn, present, np.nan),
        g=_expand_rows(g, present, np.nan) if g.size else np.zeros((present.size, 0), np.float32), ssub_B=int(ssub_B))


def save_reextraction(result: Reextraction, path: str | os.PathLike, *, session: str, subject: str,
                      params: dict | None = None) -> Path:
    """Write a :class:`Reextraction` to HDF5 (layout in ``docs/tracking.md``), atomically."""
    path = Path(path)
    from ace_neuro import __version__

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = FORMAT_NAME
            h5.attrs["format_version"] = 1
            h5.attrs["package_version"] = str(__version__)
            h5.attrs["session"] = session
            h5.attrs["subject"] = subject
            h5.attrs["dims"] = np.asarray(result.dims, np.int64)
            h5.attrs["frame_rate"] = result.frame_rate
            h5.attrs["ssub_B"] = result.ssub_B
            h5.attrs["pixel_order"] = "F"
            h5.attrs["params"] = json.dumps(params or {}, sort_keys=True, default=str)
            h5["tracked_cell_id"] = result.tracked_cell_id
            h5["session_component"] = result.session_component
            h5["in_field"] = result.in_field
            for name in ("C", "YrA", "S"):
                h5.create_dataset(name, data=getattr(result, name), chunks=True if getattr(result, name).size else None)
            h5["neurons_sn"] = result.neurons_sn
            h5["g"] = result.g
            h5["b0"] = result.b0
            write_sparse(h5, "A", result.A)
            if result.W is not None:
                write_sparse(h5, "W", result.W)
    return path


def load_reextraction(path: str | os.PathLike) -> Reextraction:
    """Read a file written by :func:`save_reextraction`."""
    path = Path(path)
    with h5py.File(path, "r") as h5:
        if h5.attrs.get("format") != FORMAT_NAME:
            raise ValueError(f"{path} is not a re-extraction file (format {h5.attrs.get('format')!r}); "
                             "it is written by the workflow's reextract rule")

        def sparse(name):
            g = h5[name]
            return scipy.sparse.csc_matrix((g["data"][()], g["indices"][()], g["indptr"][()]),
                                           shape=tuple(int(s) for s in g["shape"][()]))

        return Reextraction(
            dims=tuple(int(d) for d in h5.attrs["dims"]), frame_rate=float(h5.attrs["frame_rate"]),
            tracked_cell_id=h5["tracked_cell_id"][()], session_component=h5["session_component"][()],
            A=sparse("A"), C=h5["C"][()], YrA=h5["YrA"][()], S=h5["S"][()], in_field=h5["in_field"][()],
            b0=h5["b0"][()], W=sparse("W") if "W" in h5 else None, neurons_sn=h5["neurons_sn"][()], g=h5["g"][()],
            ssub_B=int(h5.attrs["ssub_B"]))
