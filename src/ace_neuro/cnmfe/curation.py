"""Manual curation of components: decision files, applying them, the components table."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ace_neuro.cnmfe.estimates import Estimates

__all__ = ["CurationError", "CurationEdits", "read_curation_file", "read_curation_edits", "apply_curation",
           "components_table"]


class CurationError(ValueError):
    """A curation file that cannot be applied."""


def _parse_component(value: Any, n_comp: int, where: str) -> int:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise CurationError(f"{where}: component {value!r} is not a component number") from None
    if not number.is_integer():
        raise CurationError(f"{where}: component {value!r} is not a whole number")
    k = int(number)
    if not 0 <= k < n_comp:
        if n_comp == 0:
            raise CurationError(f"{where}: component {k} does not exist (no components were found)")
        raise CurationError(
            f"{where}: component {k} does not exist; ids run from 0 to {n_comp - 1} "
            "(the 'id' column of components.csv)"
        )
    return k


def read_curation_file(path: str | os.PathLike, n_components: int) -> dict[int, bool]:
    """Read manual decisions: ``{component: accepted}`` (the merges and splits of a YAML file are left out).

    Two formats, by suffix:

    * CSV (``.csv``): header ``component,decision``; one row per component;
      ``decision`` is ``accept`` or ``reject`` (case-insensitive).
    * YAML (``.yaml``/``.yml``): ``accept: [ids]`` and/or ``reject: [ids]``,
      and ``merge: [[ids], ...]`` / ``split: [ids]`` (:func:`read_curation_edits`).

    Component ids are the 0-based ``id`` of ``components.csv``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    CurationError
        For an unknown format, missing columns, an unknown component, a bad
        decision, or a component given two different decisions; the message
        names the file and the row (CSV line number) or key.
    """
    return read_curation_edits(path, n_components).decisions


def read_curation_edits(path: str | os.PathLike, n_components: int) -> "CurationEdits":
    """Read a curation file: decisions, and (YAML) merges and splits.

    ``n_components`` is the number of components the cnmfe step found; a split
    adds one, so decisions may name ids up to ``n_components + len(split) - 1``
    (:mod:`ace_neuro.cnmfe.refit`). See :func:`read_curation_file` for the
    formats and errors; a merge group needs two or more different ids, and a
    component is in at most one group and not also split.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: curation file not found (named in the sample sheet's 'curation file' column)")
    decisions: dict[int, bool] = {}
    origin: dict[int, str] = {}

    def record(k: int, accept: bool, where: str) -> None:
        if k in decisions and decisions[k] != accept:
            before = "accepted" if decisions[k] else "rejected"
            raise CurationError(f"{where}: component {k} is also {before} at {origin[k]}")
        decisions[k] = accept
        origin[k] = where

    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
            if "component" not in fields or "decision" not in fields:
                raise CurationError(
                    f"{path}: a curation CSV needs the header 'component,decision', got {reader.fieldnames}"
                )
            for row in reader:
                row = {(k or "").strip().lower(): v for k, v in row.items()}
                where = f"{path}, line {reader.line_num}"
                if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                    continue  # blank line
                decision = (row.get("decision") or "").strip().lower()
                if decision not in ("accept", "reject"):
                    raise CurationError(f"{where}: decision {row.get('decision')!r} must be 'accept' or 'reject'")
                record(_parse_component(row.get("component"), n_components, where), decision == "accept", where)
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise CurationError(f"{path}: not valid YAML ({err})") from err
        content = content or {}
        if not isinstance(content, dict):
            raise CurationError(f"{path}: expected a mapping with keys 'accept' and/or 'reject'")
        unknown = set(content) - {"accept", "reject", "merge", "split"}
        if unknown:
            raise CurationError(
                f"{path}: unknown key(s) {sorted(map(str, unknown))}; use 'accept', 'reject', 'merge' and 'split'")
        merges, splits = _read_edits(content, n_components, path)
        n_components += len(splits)  # a split part is a new component after the last one
        for key in ("accept", "reject"):
            values = content.get(key) or []
            if not isinstance(values, list):
                values = [values]
            for i, value in enumerate(values):
                where = f"{path}, {key}[{i}]"
                record(_parse_component(value, n_components, where), key == "accept", where)
    else:
        raise CurationError(f"{path}: curation file must be .csv (component,decision) or .yaml (accept: / reject:)")
    if suffix == ".csv":
        merges, splits = (), ()
    return CurationEdits(decisions, merges, splits)


# --------------------------------------------------------------------------- merges and splits (YAML only)


@dataclass(frozen=True)
class CurationEdits:
    """What a curation file asks for.

    Attributes
    ----------
    decisions : dict of int to bool
        Component id -> accepted.
    merges : tuple of tuple of int
        Groups of ids merged into their lowest id, each sorted.
    splits : tuple of int
        Ids whose footprint is split in two, sorted.
    """

    decisions: dict = field(default_factory=dict)
    merges: tuple = ()
    splits: tuple = ()


def _read_edits(content: dict, n_components: int, path: Path) -> tuple[tuple, tuple]:
    """``merge:`` and ``split:`` of a YAML curation file, checked."""
    raw_splits = content.get("split") or []
    raw_splits = raw_splits if isinstance(raw_splits, list) else [raw_splits]
    splits = sorted({_parse_component(v, n_components, f"{path}, split[{i}]") for i, v in enumerate(raw_splits)})
    raw_merges = content.get("merge") or []
    if not isinstance(raw_merges, list) or not all(isinstance(group, list) for group in raw_merges):
        raise CurationError(f"{path}: 'merge' must be a list of lists of component ids, e.g. merge: [[3, 5]]")
    seen: dict[int, str] = {}
    merges = []
    for i, group in enumerate(raw_merges):
        where = f"{path}, merge[{i}]"
        ids = sorted({_parse_component(v, n_components + len(splits), where) for v in group})
        if len(ids) < 2:
            raise CurationError(f"{where}: a merge needs two or more different components, got {group}")
        for k in ids:
            if k in seen:
                raise CurationError(f"{where}: component {k} is also merged at {seen[k]}; put them in one group")
            if k in splits:
                raise CurationError(f"{where}: component {k} is also split; a component is merged or split, not both")
            seen[k] = where
        merges.append(tuple(ids))
    return tuple(merges), tuple(splits)


def apply_curation(estimates: Estimates, decisions: Mapping[int, bool]) -> tuple[Estimates, np.ndarray]:
    """Override the automatic decisions.

    Returns
    -------
    estimates : Estimates
        Copy with updated ``idx_components`` / ``idx_components_bad``.
    curated : ndarray of bool, shape (K,)
        Which components were decided by the curation.
    """
    if not estimates.evaluated:
        raise ValueError("apply_curation needs evaluated estimates (run evaluate_components first)")
    accepted = estimates.accepted.copy()
    curated = np.zeros(estimates.n_components, dtype=bool)
    for k, accept in decisions.items():
        if not 0 <= int(k) < estimates.n_components:
            raise CurationError(f"component {k} does not exist (K={estimates.n_components})")
        accepted[int(k)] = bool(accept)
        curated[int(k)] = True
    for k in (estimates.params.get("merged_into") or {}):  # merged into another (:mod:`.refit`)
        accepted[int(k)] = False
        curated[int(k)] = True
    out = estimates.replace(idx_components=np.flatnonzero(accepted), idx_components_bad=np.flatnonzero(~accepted))
    return out, curated


def components_table(estimates: Estimates, curated: np.ndarray | None = None):
    """One row per component: id, centroid_row, centroid_col, size_px, SNR, r_value, accepted, decided_by, reason.

    ``reason`` says why a component is rejected: ``curation``, ``vessel_edge``
    (:mod:`ace_neuro.cnmfe.vessels`), ``border`` (the same test on the frame's
    border), ``motion_band`` (made of the copies in the band motion uncovered,
    :mod:`ace_neuro.cnmfe.motion_band`), ``neuropil`` (signal continuing beyond the footprint,
    :mod:`ace_neuro.cnmfe.surround`), ``fringe`` (of a brighter neighbour, :mod:`ace_neuro.cnmfe.fringes`)
    or ``quality`` (SNR / r-value); empty when accepted
    (:func:`ace_neuro.cnmfe.reasons.decision_reasons` says it in words).
    """
    import pandas as pd

    n_comp = estimates.n_components
    curated = np.zeros(n_comp, dtype=bool) if curated is None else np.asarray(curated, dtype=bool)
    centroids = estimates.centroids()
    nan = np.full(n_comp, np.nan)
    return pd.DataFrame(
        {
            "id": np.arange(n_comp, dtype=np.int64),
            "centroid_row": centroids[:, 0],
            "centroid_col": centroids[:, 1],
            "size_px": estimates.sizes(),
            "SNR": nan if estimates.SNR_comp is None else estimates.SNR_comp.astype(np.float64),
            "r_value": nan if estimates.r_values is None else estimates.r_values.astype(np.float64),
            "accepted": estimates.accepted,
            "decided_by": np.where(curated, "curation", "auto"),
            "reason": _rejection_reasons(estimates, curated),
        }
    )


def _rejection_reasons(estimates: Estimates, curated: np.ndarray) -> np.ndarray:
    reason = np.full(estimates.n_components, "quality", dtype=object)
    reason[[int(k) for k in (estimates.params.get("fringe_components") or {})]] = "fringe"
    reason[[int(k) for k in (estimates.params.get("neuropil_components") or {})]] = "neuropil"
    for code, key in (("vessel_edge", "vessel_edge_components"), ("border", "border_components"),
                      ("motion_band", "motion_band_components")):
        reason[np.asarray(estimates.params.get(key) or [], dtype=np.int64)] = code
    reason[curated] = "curation"
    reason[[int(k) for k in (estimates.params.get("merged_into") or {})]] = "merged"
    reason[estimates.accepted] = ""
    return reason
