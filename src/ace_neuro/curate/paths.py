"""Where a recording's curation decisions are saved: light (no SciPy, h5py), so the Snakefile's input functions can
ask without loading the curation page's data module."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CURATION_FILE", "default_curation_path"]

#: Where ``ace-neuro curate`` saves a recording's decisions, inside its results folder: the workflow's
#: evaluate rule reads this file when it exists and the sample sheet names no ``curation file``.
CURATION_FILE = Path("curation") / "decisions.yaml"


def default_curation_path(results_dir: str | os.PathLike) -> Path:
    """``results/{id}/curation/decisions.yaml``: the decisions the next run uses without a sheet edit.

    Examples
    --------
    >>> default_curation_path("results/rec1").as_posix()
    'results/rec1/curation/decisions.yaml'
    """
    return Path(results_dir) / CURATION_FILE
