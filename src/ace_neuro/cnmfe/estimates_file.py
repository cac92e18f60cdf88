"""Our HDF5 file of :class:`~.estimates.Estimates` (``docs/estimates.md``): write, check, read.

:func:`save_estimates` writes under a temporary name and renames when
complete; :func:`load_estimates` reads it back exactly (same values and
dtypes); :func:`open_estimates_file` checks that a file is one this version
reads, for readers that take only part of it (the curation page).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np
import scipy.sparse

from ace_neuro.io.atomic import atomic_path

from .estimates import Estimates

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "save_estimates", "load_estimates", "open_estimates_file", "write_sparse",
           "recorded_options", "COMPRESSED_FIELDS", "storage_options"]

logger = logging.getLogger(__name__)

#: Value of the root attribute ``format`` of our estimates files.
FORMAT_NAME = "ace_neuro.estimates"
#: Layout version written by :func:`save_estimates`; readers accept <= this.
FORMAT_VERSION = 1


_DENSE_FIELDS = ("C", "S", "YrA", "b0", "b", "f", "bl", "c1", "g", "neurons_sn")
_OPTIONAL_FIELDS = ("lam", "sn", "SNR_comp", "r_values", "Cn", "pnr")
#: The fields with one value per frame (``load_estimates(without_traces=True)`` leaves them out).
_TIME_FIELDS = ("C", "S", "YrA", "f")

#: Datasets stored gzip-compressed (level 1, byte shuffle; lossless, every HDF5 reader has it), where it pays: the
#: ``(K, T)`` traces ``S`` (to 0.11-0.13 of its size: mostly zeros) and ``C`` (0.59-0.71), a sparse matrix's
#: ``indices`` (~0.10: the ring model ``W``'s regular offsets) and the per-pixel ``b0``, ``sn``, ``Cn``, ``pnr`` (~0.7).
#: ``YrA`` (residual noise, ~0.91) and a sparse matrix's ``data`` (~0.86) stay plain. Measured on a 608x608 fit:
#: benchmarks/long_session.md "Session 14: disk".
COMPRESSED_FIELDS = ("C", "S", "indices", "b0", "sn", "Cn", "pnr")
#: Chunk of a compressed dataset: 8 components x 4,096 frames (128 KB of float32), so one component's trace or a
#: window of frames of every component decompresses a few chunks, not the whole array.
_CHUNK = (8, 4096)


def storage_options(name: str, value: np.ndarray) -> dict:
    """``h5py`` ``create_dataset`` keywords for the dataset ``name`` holding ``value``.

    Parameters
    ----------
    name : str
        The dataset's name in its group (``"C"``, ``"S"``, ``"indices"``, ...).
    value : numpy.ndarray
        Its data, 1-D or 2-D.

    Returns
    -------
    dict
        ``compression="gzip"``, level 1, ``shuffle`` and ``chunks`` for a non-empty dataset of
        :data:`COMPRESSED_FIELDS`; ``{}`` (contiguous, plain) otherwise.

    Examples
    --------
    >>> storage_options("S", np.zeros((3, 10000), np.float32))["chunks"]
    (3, 4096)
    >>> storage_options("YrA", np.zeros((3, 10000), np.float32))
    {}
    """
    value = np.asarray(value)
    if name not in COMPRESSED_FIELDS or value.size == 0 or value.ndim not in (1, 2):
        return {}
    chunks = (min(value.shape[-1], _CHUNK[0] * _CHUNK[1]),) if value.ndim == 1 else tuple(
        min(n, c) for n, c in zip(value.shape, _CHUNK))
    return {"compression": "gzip", "compression_opts": 1, "shuffle": True, "chunks": chunks}


def _package_version() -> str:
    from ace_neuro import __version__

    return str(__version__)


def write_sparse(group: h5py.Group, name: str, matrix: scipy.sparse.spmatrix) -> None:
    """Store a sparse matrix as the group ``name`` with CSC ``data``, ``indices``, ``indptr``, ``shape`` (CaImAn's way)."""
    csc = scipy.sparse.csc_matrix(matrix)
    sub = group.create_group(name)
    sub.create_dataset("data", data=csc.data)
    sub.create_dataset("indices", data=csc.indices, **storage_options("indices", csc.indices))
    sub.create_dataset("indptr", data=csc.indptr)
    sub.create_dataset("shape", data=np.asarray(csc.shape, dtype=np.int64))


def _read_sparse(group: h5py.Group) -> scipy.sparse.csc_matrix:
    shape = tuple(int(s) for s in group["shape"][()])
    return scipy.sparse.csc_matrix((group["data"][()], group["indices"][()], group["indptr"][()]), shape=shape)


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists; anything else is an error."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _params_json(params: Mapping[str, Any]) -> str:
    try:
        return json.dumps(params, sort_keys=True, allow_nan=True, default=_json_default)
    except TypeError as err:
        bad = [k for k, v in params.items() if not _json_ok(v)]
        raise ValueError(
            f"Estimates.params must hold JSON values (numbers, strings, lists, dicts, null); "
            f"cannot store {bad or 'a value'}: {err}"
        ) from err


def _json_ok(value: Any) -> bool:
    try:
        json.dumps(value, default=_json_default)
        return True
    except TypeError:
        return False


def save_estimates(estimates: Estimates, path: str | os.PathLike) -> Path:
    """Write ``estimates`` to an HDF5 file in our layout (``docs/estimates.md``).

    The file is written under a temporary name and renamed when complete.
    :func:`load_estimates` reads it back exactly (same values and dtypes).

    Parameters
    ----------
    estimates : Estimates
    path : path-like
        Output file (``.h5``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if not isinstance(estimates, Estimates):
        raise TypeError(f"save_estimates needs an Estimates, got {type(estimates).__name__}")
    path = Path(path)
    params_text = _params_json(estimates.params)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = FORMAT_NAME
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["package_version"] = _package_version()
            h5.attrs["dims"] = np.asarray(estimates.dims, dtype=np.int64)
            h5.attrs["frame_rate"] = float(estimates.frame_rate)
            h5.attrs["ssub_B"] = int(estimates.ssub_B)
            h5.attrs["pixel_order"] = "F"
            write_sparse(h5, "A", estimates.A)
            if estimates.W is not None:
                write_sparse(h5, "W", estimates.W)
            for name in _DENSE_FIELDS + _OPTIONAL_FIELDS:
                value = getattr(estimates, name)
                if value is not None:
                    h5.create_dataset(name, data=value, **storage_options(name, value))
            if estimates.evaluated:
                h5.create_dataset("idx_components", data=estimates.idx_components.astype(np.int64))
                h5.create_dataset("idx_components_bad", data=estimates.idx_components_bad.astype(np.int64))
            h5.create_dataset("params", data=params_text, dtype=h5py.string_dtype("utf-8"))
    logger.info("wrote %d components x %d frames to %s", estimates.n_components, estimates.n_frames, path)
    return path


def open_estimates_file(path: str | os.PathLike, *, missing_hint: str) -> h5py.File:
    """Open one of our estimates files for reading, after checking that it is one this version reads.

    Parameters
    ----------
    path : path-like
        An ``estimates.h5`` written by :func:`save_estimates`.
    missing_hint : str
        What to do when the file does not exist (ends the error message).

    Returns
    -------
    h5py.File
        Open read-only; the caller closes it (``with``).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file; not HDF5; not our layout (a CaImAn ``cnm.save()`` file is
        named as such); a newer layout version.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: estimates file not found; {missing_hint}")
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not an HDF5 file ({err}); expected estimates written by ace_neuro") from err
    fmt = h5.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT_NAME:
        hint = " (it looks like a CaImAn cnm.save() file)" if "estimates" in h5 and "params" in h5 else ""
        h5.close()
        raise ValueError(f"{path}: not an ace_neuro estimates file{hint}: root attribute format={fmt!r}")
    version = int(h5.attrs.get("format_version", 0))
    if version > FORMAT_VERSION:
        h5.close()
        raise ValueError(
            f"{path}: estimates layout version {version} is newer than this ace_neuro reads ({FORMAT_VERSION}); "
            "upgrade ace_neuro"
        )
    return h5


def load_estimates(path: str | os.PathLike, *, without_traces: bool = False) -> Estimates:
    """Read a file written by :func:`save_estimates`.

    With ``without_traces``, the ``(K, T)`` traces ``C``, ``S``, ``YrA`` and the ``(nb, T)`` ``f`` are not read:
    they are ``(K, 0)`` and ``(nb, 0)`` (for a reader of the traces a block at a time,
    :mod:`~ace_neuro.cnmfe.trace_file`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not one of ours (for instance a CaImAn ``cnm.save()``
        file), is from a newer layout version, or is inconsistent.
    """
    path = Path(path)
    with open_estimates_file(path, missing_hint="run the cnmfe step first") as h5:
        kwargs: dict[str, Any] = {
            "dims": tuple(int(d) for d in h5.attrs["dims"]),
            "frame_rate": float(h5.attrs["frame_rate"]),
            "ssub_B": int(h5.attrs["ssub_B"]),
            "A": _read_sparse(h5["A"]),
            "W": _read_sparse(h5["W"]).tocsr() if "W" in h5 else None,
        }
        for name in _DENSE_FIELDS + _OPTIONAL_FIELDS + ("idx_components", "idx_components_bad"):
            if without_traces and name in _TIME_FIELDS and name in h5:
                kwargs[name] = np.zeros((h5[name].shape[0], 0), h5[name].dtype)
            else:
                kwargs[name] = h5[name][()] if name in h5 else None
        params = h5["params"][()]
        kwargs["params"] = json.loads(params.decode() if isinstance(params, bytes) else params)
    try:
        return Estimates(**kwargs)
    except ValueError as err:
        raise ValueError(f"{path}: inconsistent estimates file: {err}") from err


def recorded_options(estimates: Estimates, cls: type, *, path: str | os.PathLike | None = None):
    """The options a step recorded in ``estimates.params``, read back as an options object of ``cls``.

    Each step records every value of its options object under its name
    (:meth:`ace_neuro.options.Options.as_dict`; the cnmfe step with the
    values it resolved: ``fr``, ``border_pix``, calibrated ``min_corr`` /
    ``min_pnr``), so a later step reads the object back, validated again.

    Upgrade path for older files: a value missing from the record (a
    parameter added after the file was written, or estimates from another
    tool) takes its current default, and the log names every such value.

    Parameters
    ----------
    estimates : Estimates
    cls : type
        An options class (:class:`~ace_neuro.cnmfe.params.CnmfeOptions`, ...).
    path : path-like, optional
        The file the estimates came from, for messages.

    Returns
    -------
    Options

    Raises
    ------
    ParameterError
        A recorded value that is no longer allowed, naming the file.
    """
    from ace_neuro.options import ParameterError  # noqa: PLC0415

    names = [p.name for p in cls.parameters()]
    recorded = {name: estimates.params[name] for name in names if name in estimates.params}
    missing = [name for name in names if name not in recorded]
    where = f"{path}: " if path is not None else ""
    if missing:
        logger.warning("%s%s %s not recorded (an older file, or estimates from elsewhere): the current default%s used",
                       where, cls.STAGE, ", ".join(missing), " is" if len(missing) == 1 else "s are")
    try:
        return cls.from_params(recorded)
    except ParameterError as err:
        raise ParameterError(f"{where}the recorded {cls.STAGE} options are not valid now ({err}); "
                             f"re-run the {cls.STAGE} step") from None

