"""The provenance record of a recording's results: versions, parameters, raw-file checksums, outputs.

The code is named by ``ace_neuro_version`` (from the git tags), ``ace_neuro_commit``, ``ace_neuro_dirty`` (tracked
files modified) and ``ace_neuro_describe``, from git at run time where the package is a git checkout
(:func:`ace_neuro.version.version_record`).

:func:`write_provenance` writes ``provenance.json`` (the ``provenance`` rule);
:func:`ace_neuro.verify.verify_results` reads it back to check a results folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import tifffile

from ace_neuro.io.atomic import atomic_path
from ace_neuro.version import version_record

__all__ = ["write_provenance", "file_sha256"]


def file_sha256(path: str | os.PathLike, block_bytes: int = 8 * 2**20) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(block_bytes):
            digest.update(block)
    return digest.hexdigest()


def write_provenance(
    path: str | os.PathLike,
    recording_id: str,
    recording_dir: str | os.PathLike,
    parameters: Mapping[str, Any],
    outputs: Iterable[str | os.PathLike],
    *,
    raw_files: Iterable[str | os.PathLike] | None = None,
) -> dict[str, Any]:
    """Record what made a recording's results: the code, versions, parameters, input checksums, outputs.

    Parameters
    ----------
    path : path-like
        ``results/{id}/provenance.json``.
    recording_id : str
    recording_dir : path-like
        The raw recording folder; every file in it is listed with size and SHA-256.
    parameters : mapping
        ``{stage: {name: value}}`` as resolved for this recording.
    outputs : iterable of path-like
        Output files of the run (sizes are recorded).
    raw_files : iterable of path-like, optional
        The raw files convert read (each listed with size and SHA-256); default
        every file under ``recording_dir``.

    Returns
    -------
    dict
        What was written.
    """
    import cv2
    import scipy

    recording_dir = Path(recording_dir)
    if raw_files is None:
        files = sorted(p for p in recording_dir.rglob("*") if p.is_file())
    else:
        files = [Path(p) for p in raw_files]
    inputs = []
    for file in files:
        relative = os.path.relpath(file.resolve(), recording_dir.resolve())
        inputs.append({"path": relative, "bytes": file.stat().st_size, "sha256": file_sha256(file)})
    code = version_record()
    record = {
        "id": recording_id,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ace_neuro_version": code["version"],
        "ace_neuro_commit": code["commit"],
        "ace_neuro_dirty": code["dirty"],
        "ace_neuro_describe": code["describe"],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": {"numpy": np.__version__, "scipy": scipy.__version__, "opencv": cv2.__version__,
                      "tifffile": tifffile.__version__, "pandas": pd.__version__},
        "recording_directory": str(recording_dir.resolve()),
        "inputs": inputs,
        "parameters": parameters,
        "outputs": [{"path": str(p), "bytes": Path(p).stat().st_size if Path(p).is_file() else None} for p in outputs],
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))
    return record
