"""Manual curation of components: decision files, applying them, the components table."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ace_neuro.cnmfe.estimates import Estimates

__all__ = ["CurationError", "read_curation_file", "apply_curation", "components_table"]


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
    """Read manual decisions: ``{component: accepted}``.

    Two formats, by suffix:

    * CSV (``.csv``): header ``component,decision``; one row per component;
      ``decision`` is ``accept`` or ``reject`` (case-insensitive).
    * YAML (``.yaml``/``.yml``): ``accept: [ids]`` and/or ``reject: [ids]``.

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
        unknown = set(content) - {"accept", "reject"}
        if unknown:
            raise CurationError(f"{path}: unknown key(s) {sorted(map(str, unknown))}; use 'accept' and 'reject'")
        for key in ("accept", "reject"):
            values = content.get(key) or []
            if not isinstance(values, list):
                values = [values]
            for i, value in enumerate(values):
                where = f"{path}, {key}[{i}]"
                record(_parse_component(value, n_components, where), key == "accept", where)
    else:
        raise CurationError(f"{path}: curation file must be .csv (component,decision) or .yaml (accept: / reject:)")
    return decisions


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
    out = estimates.replace(idx_components=np.flatnonzero(accepted), idx_components_bad=np.flatnonzero(~accepted))
    return out, curated


def components_table(estimates: Estimates, curated: np.ndarray | None = None):
    """One row per component: id, centroid_row, centroid_col, size_px, SNR, r_value, accepted, decided_by, reason.

    ``reason`` says why a component is rejected: ``curation``, ``vessel_edge``
    (:mod:`ace_neuro.cnmfe.vessels`), ``border`` (the same test on the frame's
    border) or ``quality`` (SNR / r-value); empty when accepted
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
    for code, key in (("vessel_edge", "vessel_edge_components"), ("border", "border_components")):
        reason[np.asarray(estimates.params.get(key) or [], dtype=np.int64)] = code
    reason[curated] = "curation"
    reason[estimates.accepted] = ""
    return reason
