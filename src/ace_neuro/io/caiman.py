"""Estimates in CaImAn's ``cnm.save()`` HDF5 layout, readable by ``caiman.source_extraction.cnmf.cnmf.load_CNMF``.

Parameters are sorted into CaImAn's ``CNMFParams`` groups by the ``caiman_group``
of their declarations (:class:`~ace_neuro.cnmfe.params.CnmfeOptions`, :class:`~ace_neuro.cnmfe.params.EvaluateOptions`). ``docs/estimates.md`` gives the
exact mapping of fields.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np
import scipy.sparse

from ace_neuro import __version__
from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.cnmfe.estimates_file import storage_options, write_sparse
from ace_neuro.io.atomic import atomic_path

__all__ = ["export_caiman_hdf5"]

logger = logging.getLogger(__name__)

_CAIMAN_ALL_GROUPS = ("data", "patch", "preprocess", "init", "spatial", "temporal", "merging", "quality",
                      "online", "motion", "ring_CNN")

#: Fields of CaImAn's ``Estimates`` that ``cnm.save()`` writes (ours or None).
_CAIMAN_ESTIMATE_FIELDS = (
    "A", "C", "f", "b", "R", "W", "b0", "YrA", "S", "sn", "g", "bl", "c1", "neurons_sn", "lam", "center",
    "F_dff", "idx_components", "idx_components_bad", "SNR_comp", "r_values", "cnn_preds", "ecc", "dims",
    "A_thr", "discarded_components", "Cn",
)


def _caiman_params(params: Mapping[str, Any], estimates: Estimates, mmap_file: str | None) -> dict[str, dict]:
    from ace_neuro.cnmfe.params import CnmfeOptions, EvaluateOptions  # noqa: PLC0415  (the estimates' steps)

    declared = {p.name: p.caiman_groups for p in CnmfeOptions.parameters() + EvaluateOptions.parameters()}
    groups: dict[str, dict] = {g: {} for g in _CAIMAN_ALL_GROUPS}
    for name, value in params.items():
        for group in declared.get(name, ()):
            groups.setdefault(group, {})[name] = value
    groups["data"]["dims"] = estimates.dims
    groups["data"]["fr"] = estimates.frame_rate
    if mmap_file is not None:
        groups["data"]["fnames"] = [str(mmap_file)]
    groups["init"].setdefault("ssub_B", estimates.ssub_B)
    groups["init"].setdefault("nb", estimates.nb)
    return groups


def _caiman_value(key: str, item: Any) -> Any:
    """Convert a value as CaImAn's ``recursively_save_dict_contents_to_group`` does."""
    if isinstance(item, (list, tuple)):
        if len(item) > 0 and all(isinstance(e, str) for e in item):
            return np.array([e.encode() for e in item])
        if any(e is None for e in item):
            return None if all(e is None for e in item) else np.array([np.nan if e is None else e for e in item])
        return np.array(item)
    if isinstance(item, bool):
        return np.bool_(item)
    return item


def _write_caiman_dict(h5: h5py.File, path: str, content: Mapping[str, Any]) -> None:
    """Write ``content`` under ``path``; an array given under two names (CaImAn's ``R`` is our ``YrA``) is stored
    once, the second name a hard link to the first (h5py and CaImAn read both as datasets)."""
    group = h5.require_group(path) if path != "/" else h5
    # id of an array of ``content`` already stored in this group -> its name (``content`` holds the arrays, so an id
    # is not reused while we write; arrays made here from lists are never linked)
    written: dict[int, str] = {}
    for key, given in content.items():
        if isinstance(given, np.ndarray) and id(given) in written:
            group[key] = group[written[id(given)]]
            continue
        item = _caiman_value(key, given)
        if isinstance(item, dict):
            _write_caiman_dict(h5, f"{path.rstrip('/')}/{key}", item)
        elif scipy.sparse.issparse(item):
            write_sparse(group, key, item)
        elif item is None:
            group.create_dataset(key, data="NoneType", dtype=h5py.string_dtype("utf-8"))
        elif isinstance(item, str):
            group.attrs[key] = item  # CaImAn >= 1.9.9 stores strings as attributes of their group
        else:
            group.create_dataset(key, data=item, **storage_options(key, item))
            if isinstance(given, np.ndarray) and given.size:
                written[id(given)] = key


def export_caiman_hdf5(
    estimates: Estimates,
    path: str | os.PathLike,
    *,
    mmap_file: str | os.PathLike | None = None,
) -> Path:
    """Write ``estimates`` in CaImAn's ``cnm.save()`` layout.

    ``caiman.source_extraction.cnmf.cnmf.load_CNMF(path)`` then returns a CNMF
    object whose ``estimates`` and ``params`` hold our results (see
    ``docs/estimates.md`` for the exact mapping). Written atomically.

    Parameters
    ----------
    estimates : Estimates
    path : path-like
        Output file; CaImAn's ``save`` wants the ``.hdf5`` suffix.
    mmap_file : path-like, optional
        The motion-corrected memory map the estimates came from; stored as
        ``mmap_file`` and ``params/data/fnames`` as CaImAn does.

    Notes
    -----
    CaImAn's conventions are followed: ``None`` is the string dataset
    ``'NoneType'``; sparse ``A`` and ``W`` are groups ``data, indices, indptr,
    shape`` (CSC); strings are attributes of their group; tuples are arrays.
    With a ring-model background (``W`` set) ``b`` and ``f`` are
    written as ``'NoneType'``, so CaImAn's ``compute_background`` takes its
    ring-model branch. Each pixel's slow trend (``b f`` beside ``W``,
    ``cnmfe.trend_degree``) has no place in CaImAn's model (its low-rank branch
    drops ``b0`` and the ring): it is left out, and CaImAn's ring then reads the
    movie with the trend.
    """
    if not isinstance(estimates, Estimates):
        raise TypeError(f"export_caiman_hdf5 needs an Estimates, got {type(estimates).__name__}")
    path = Path(path)
    if path.suffix != ".hdf5":
        raise ValueError(f"{path}: CaImAn's load_CNMF reads '.hdf5' files written by cnm.save(); use that suffix")
    ring = estimates.W is not None
    est = {name: None for name in _CAIMAN_ESTIMATE_FIELDS}
    est.update(
        A=estimates.A,
        C=estimates.C,
        S=estimates.S,
        YrA=estimates.YrA,
        R=estimates.YrA,
        b=None if ring else estimates.b,
        f=None if ring else estimates.f,
        W=estimates.W,
        b0=estimates.b0,
        sn=estimates.sn,
        g=estimates.g,
        bl=estimates.bl,
        c1=estimates.c1,
        neurons_sn=estimates.neurons_sn,
        lam=estimates.lam,
        idx_components=estimates.idx_components,
        idx_components_bad=estimates.idx_components_bad,
        SNR_comp=estimates.SNR_comp,
        r_values=estimates.r_values,
        dims=estimates.dims,
        Cn=estimates.Cn,
    )
    content = {
        "dims": estimates.dims,
        "dview": None,
        "skip_refinement": False,
        "remove_very_bad_comps": False,
        "mmap_file": None if mmap_file is None else str(mmap_file),
        "runmode": "CNMF",
        "params": _caiman_params(estimates.params, estimates, None if mmap_file is None else str(mmap_file)),
        "estimates": est,
    }
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            _write_caiman_dict(h5, "/", content)
            h5.attrs["written_by"] = f"ace_neuro {__version__}"
    logger.info("wrote CaImAn-layout estimates to %s", path)
    return path
