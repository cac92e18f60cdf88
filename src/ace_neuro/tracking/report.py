"""The files of a registration: the HDF5 result, one CSV row per tracked cell, the quality summary, the figures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ace_neuro.io.atomic import atomic_path

__all__ = ["tracked_cells_table", "write_registration"]


def tracked_cells_table(registration):
    """One row per tracked cell (pandas DataFrame): ``tracked_cell_id``, one column per session with the
    component id (empty where absent), ``n_sessions``, ``confidence`` (register score), ``centroid_row``,
    ``centroid_col`` (common space)."""
    import pandas as pd

    table = pd.DataFrame({"tracked_cell_id": np.arange(registration.n_tracked, dtype=np.int64)})
    for column, name in enumerate(registration.session_names):
        values = registration.assignments[:, column]
        table[name] = pd.array(np.where(values >= 0, values, None), dtype="Int64")
    table["n_sessions"] = (registration.assignments >= 0).sum(axis=1)
    table["confidence"] = np.round(registration.confidence, 4)
    table["centroid_row"] = np.round(registration.centroids[:, 0], 2)
    table["centroid_col"] = np.round(registration.centroids[:, 1], 2)
    return table


def write_registration(registration, alignment, out_dir: str | os.PathLike, *, title: str = "") -> dict:
    """Write ``registration.h5``, ``tracked_cells.csv``, ``quality.json`` and four figures into ``out_dir``.

    Returns
    -------
    dict
        Output name -> path.
    """
    from .figures import plot_alignment, plot_alignment_quality, plot_model, plot_tracked_cells

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "registration": out / "registration.h5",
        "cells": out / "tracked_cells.csv",
        "quality": out / "quality.json",
        "alignment": out / "alignment.png",
        "alignment_quality": out / "alignment_quality.png",
        "model": out / "model.png",
        "tracked_cells": out / "tracked_cells.png",
    }
    registration.save(paths["registration"])
    with atomic_path(paths["cells"]) as tmp:
        tracked_cells_table(registration).to_csv(tmp, index=False)
    summary = {"sessions": list(registration.session_names), **registration.quality,
               "model": registration.model,
               "alignment": {k: np.asarray(v).tolist() for k, v in registration.alignment.items()}}
    with atomic_path(paths["quality"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=lambda v: np.asarray(v).tolist()) + "\n")
    plot_alignment(alignment, paths["alignment"], title=title)
    plot_alignment_quality(alignment, paths["alignment_quality"], title=title)
    plot_model(registration.pairs, registration.model, registration.quality, paths["model"], title=title)
    plot_tracked_cells(registration, paths["tracked_cells"], title=title)
    return paths
