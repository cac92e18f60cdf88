"""Engines that the motion, cnmfe and evaluate steps can run: our own (``native``) or CaImAn (``caiman``).

The native engine is the package itself (:mod:`ace_neuro.motion`,
:mod:`ace_neuro.cnmfe`). The CaImAn engine (:mod:`ace_neuro.engines.caiman`)
runs CaImAn's ``MotionCorrect``, ``CNMF`` (one-photon mode) and
``Estimates.evaluate_components`` and writes the same files with the same
names and layouts, so every later step reads either engine's results.

CaImAn is optional: it ships on conda-forge only (``workflow/envs/caiman.yaml``).
This package imports without it; :func:`caiman_available` says whether it is
importable here, and only the functions that run CaImAn import it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["ENGINES", "caiman_available", "check_engine"]

#: Names accepted by the ``engine`` parameter.
ENGINES = ("native", "caiman")


def caiman_available() -> bool:
    """Whether CaImAn's package can be imported in this interpreter (without importing it).

    A package named ``caiman`` without CaImAn's ``source_extraction`` module
    (PyPI's unrelated ``caiman``) does not count.
    """
    try:
        spec = importlib.util.find_spec("caiman")  # does not import it
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    return any((Path(folder) / "source_extraction").is_dir() for folder in spec.submodule_search_locations)


def check_engine(engine: str, *, where: str = "engine") -> str:
    """Return ``engine`` if it is one of :data:`ENGINES`, else raise ``ValueError`` naming ``where``."""
    if engine not in ENGINES:
        raise ValueError(f"{where} must be one of {list(ENGINES)}, got {engine!r}")
    return engine
