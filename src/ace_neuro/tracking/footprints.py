"""One session's footprints (:class:`SessionFootprints`) and the readers of three tools' files.

Footprints are kept sparse inside (``scipy.sparse.csr_matrix`` of shape
``(K, H*W)``, row-major pixels) so that five sessions of 600 cells at 600 x 600
pixels stay small; dense ``(K, H, W)`` arrays are accepted and converted.

Readers (:func:`read_footprints` chooses by content):

- ours: ``results/{id}/evaluate/estimates.h5`` (accepted components, ``idx_components``);
- CaImAn's ``cnm.save()`` HDF5 (``estimates/A``, accepted components when ``idx_components`` is stored);
- CellReg's input, ``spatial_footprints_*.mat`` (MATLAB v5 ``allFiltersMat``, cells x H x W; v7.3 files are HDF5
  and are read with h5py, where MATLAB stores the array transposed).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np
import scipy.sparse

__all__ = ["SessionFootprints", "read_footprints"]


@dataclasses.dataclass(frozen=True)
class SessionFootprints:
    """The spatial footprints of one session, with their component ids and optional summary images.

    Parameters
    ----------
    name : str
        The session's name (unique within a registration; used in messages, files and figures).
    footprints : ndarray (K, H, W) or sparse (K, H*W)
        Non-negative footprints; a sparse matrix holds row-major pixels and needs ``shape``.
    ids : array-like (K,) of int, optional
        Each footprint's component id in its session (default ``0 .. K-1``).
    images : mapping of str to ndarray (H, W), optional
        Summary images of the session (``mean``, ``correlation``, ``vessels``), used besides the footprints'
        projection to align the sessions.
    shape : (H, W), optional
        Frame shape; required for sparse footprints, checked for dense ones.
    """

    name: str
    footprints: Any
    ids: Any = None
    images: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a session needs a non-empty name, got {self.name!r}")
        fp = self.footprints
        if scipy.sparse.issparse(fp):
            if self.shape is None or len(self.shape) != 2:
                raise ValueError(f"session {self.name}: sparse footprints need shape=(H, W)")
            shape = (int(self.shape[0]), int(self.shape[1]))
            sparse = scipy.sparse.csr_matrix(fp, dtype=np.float32)
            if sparse.shape[1] != shape[0] * shape[1]:
                raise ValueError(f"session {self.name}: sparse footprints have {sparse.shape[1]} pixels, "
                                 f"shape {shape} has {shape[0] * shape[1]}")
        else:
            dense = np.asarray(fp)
            if dense.ndim != 3:
                raise ValueError(f"session {self.name}: footprints must be (K, H, W), got shape {dense.shape}")
            shape = dense.shape[1:]
            if self.shape is not None and tuple(self.shape) != shape:
                raise ValueError(f"session {self.name}: footprints are {shape}, shape says {tuple(self.shape)}")
            sparse = scipy.sparse.csr_matrix(dense.reshape(dense.shape[0], -1).astype(np.float32, copy=False))
        sparse.eliminate_zeros()
        if sparse.nnz and (not np.all(np.isfinite(sparse.data)) or sparse.data.min() < 0):
            raise ValueError(f"session {self.name}: footprints must be finite and non-negative")
        n = sparse.shape[0]
        ids = np.arange(n, dtype=np.int64) if self.ids is None else np.asarray(self.ids).astype(np.int64).ravel()
        if ids.shape != (n,):
            raise ValueError(f"session {self.name}: {ids.size} ids for {n} footprints")
        if np.unique(ids).size != n or (n and ids.min() < 0):
            raise ValueError(f"session {self.name}: component ids must be unique and >= 0")
        images = {}
        for key, image in dict(self.images or {}).items():
            image = np.asarray(image, dtype=np.float32)
            if image.shape != shape:
                raise ValueError(f"session {self.name}: image {key!r} is {image.shape}, footprints are {shape}")
            images[str(key)] = np.nan_to_num(image)
        object.__setattr__(self, "footprints", sparse)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "shape", shape)

    @property
    def n_cells(self) -> int:
        """Number of footprints ``K``."""
        return int(self.footprints.shape[0])

    def dense(self) -> np.ndarray:
        """Footprints as a dense (K, H, W) float32 array (large; for small sessions and tests)."""
        return self.footprints.toarray().reshape(self.n_cells, *self.shape)


def _from_caiman_columns(columns: scipy.sparse.spmatrix, dims: tuple[int, int]) -> scipy.sparse.csr_matrix:
    """CaImAn's ``A`` (H*W, K), pixel ``row + col * H``, as our (K, H*W) row-major rows."""
    height, width = dims
    csc = scipy.sparse.csc_matrix(columns)
    pixel = csc.indices
    row, col = pixel % height, pixel // height
    coo = scipy.sparse.coo_matrix((csc.data, (np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr)),
                                               row * width + col)), shape=(csc.shape[1], height * width))
    return coo.tocsr()


def _read_group_sparse(group: h5py.Group) -> scipy.sparse.csc_matrix:
    shape = tuple(int(s) for s in group["shape"][()])
    return scipy.sparse.csc_matrix((group["data"][()], group["indices"][()], group["indptr"][()]), shape=shape)


def _accepted(values: Any, n: int, path: Path) -> np.ndarray:
    if values is None:
        return np.arange(n)
    idx = np.asarray(values).astype(np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"{path}: idx_components out of range for {n} components")
    return np.sort(idx)


def _read_ours(path: Path, name: str) -> SessionFootprints:
    from ace_neuro.cnmfe.estimates_file import open_estimates_file

    with open_estimates_file(path, missing_hint="run the evaluate step first") as h5:
        dims = tuple(int(d) for d in h5.attrs["dims"])
        rows = _from_caiman_columns(_read_group_sparse(h5["A"]), dims)
        keep = _accepted(h5["idx_components"][()] if "idx_components" in h5 else None, rows.shape[0], path)
        images = {}
        if "Cn" in h5 and h5["Cn"].shape == dims:
            images["correlation"] = h5["Cn"][()]
    return SessionFootprints(name, rows[keep], ids=keep, images=images, shape=dims)


def _read_caiman(path: Path, name: str) -> SessionFootprints:
    with h5py.File(path, "r") as h5:
        est = h5["estimates"]
        if "A" not in est or not isinstance(est["A"], h5py.Group):
            raise ValueError(f"{path}: CaImAn file without sparse estimates/A; run CNMF and cnm.save() first")
        dims = tuple(int(d) for d in (est["dims"][()] if "dims" in est else h5["dims"][()]))
        if len(dims) != 2:
            raise ValueError(f"{path}: estimates/dims {dims} is not a 2-D frame")
        rows = _from_caiman_columns(_read_group_sparse(est["A"]), dims)
        idx = est.get("idx_components")
        idx_values = None
        if idx is not None and idx.dtype.kind in "iuf" and idx.shape != ():
            idx_values = idx[()]
        keep = _accepted(idx_values, rows.shape[0], path)
        images = {}
        cn = est.get("Cn")
        if cn is not None and cn.dtype.kind == "f" and cn.shape == dims:
            images["correlation"] = cn[()]
    return SessionFootprints(name, rows[keep], ids=keep, images=images, shape=dims)


def _read_cellreg(path: Path, name: str) -> SessionFootprints:
    import scipy.io

    try:
        content = scipy.io.loadmat(path, variable_names=["allFiltersMat"])
        stack = content.get("allFiltersMat")
    except NotImplementedError:  # MATLAB v7.3 = HDF5, dimensions reversed
        with h5py.File(path, "r") as h5:
            stack = h5["allFiltersMat"][()].transpose(0, 2, 1) if "allFiltersMat" in h5 else None
    if stack is None:
        raise ValueError(f"{path}: no variable 'allFiltersMat' (CellReg's spatial footprints, cells x H x W)")
    stack = np.asarray(stack)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3:
        raise ValueError(f"{path}: allFiltersMat has shape {stack.shape}; CellReg's layout is cells x H x W")
    return SessionFootprints(name, _sparse_stack(stack), shape=stack.shape[1:])


def _sparse_stack(stack: np.ndarray) -> scipy.sparse.csr_matrix:
    """(K, H, W) array -> (K, H*W) CSR rows without a dense copy (MATLAB's arrays arrive in Fortran order)."""
    n, height, width = stack.shape
    order = "F" if stack.flags["F_CONTIGUOUS"] and not stack.flags["C_CONTIGUOUS"] else "C"
    flat = stack.ravel(order=order)
    index = np.flatnonzero(flat)
    if order == "F":
        cell, pixel = index % n, (index // n) % height * width + index // (n * height)
    else:
        cell, pixel = index // (height * width), index % (height * width)
    return scipy.sparse.csr_matrix((flat[index].astype(np.float32), (cell, pixel)), shape=(n, height * width))


def read_footprints(path: str | os.PathLike, name: str | None = None) -> SessionFootprints:
    """Read one session's footprints from ours, CaImAn's or CellReg's file.

    Parameters
    ----------
    path : path-like
        ``estimates.h5`` (ours, after evaluate: accepted components), a CaImAn ``cnm.save()`` ``.hdf5``, or a
        CellReg ``spatial_footprints_*.mat``.
    name : str, optional
        Session name (default: the file's stem, or its folder's name for ``estimates.h5``).

    Returns
    -------
    SessionFootprints
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: footprint file not found")
    if name is None:
        name = path.parent.parent.name if path.name == "estimates.h5" and path.parent.name in ("evaluate", "cnmfe") \
            else path.stem
    if path.suffix.lower() == ".mat":
        return _read_cellreg(path, name)
    try:
        with h5py.File(path, "r") as h5:
            fmt = h5.attrs.get("format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            caiman = "estimates" in h5 and isinstance(h5["estimates"], h5py.Group)
    except OSError as err:
        raise ValueError(f"{path}: not an HDF5 or MATLAB file ({err}); expected ace_neuro estimates.h5, a CaImAn "
                         "cnm.save() .hdf5 or CellReg's spatial_footprints_*.mat") from err
    if fmt == "ace_neuro.estimates":
        return _read_ours(path, name)
    if caiman:
        return _read_caiman(path, name)
    raise ValueError(f"{path}: HDF5 file is neither ace_neuro estimates (format attribute) nor CaImAn's "
                     "cnm.save() layout (estimates/A)")
