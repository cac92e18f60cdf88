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
import os
from pathlib import Path

__all__ = ["ENGINES", "caiman_available", "check_engine", "caiman_mem_mb", "movie_size"]

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


#: CaImAn's peak memory per step: ``base_mb + factor * (float32 movie in MB)``, above the peaks measured in
#: benchmarks/compare.md (demo, 500 MB movie: motion 1.86 GB, CNMF 2.46 GB, evaluation 0.31 GB; 608x608 x 1,000
#: frames, 1.41 GB movie: motion 3.36 GB, CNMF 8.22 GB, evaluation 0.69 GB). Motion:
#: ``save_memmap`` reads the whole registered movie into memory and copies it; CNMF (whole field) holds the
#: movie's data and residuals; evaluation reads frames around each component's peaks from the memory map.
#: Unlike our engine's, motion's and CNMF's grow with the recording's length.
CAIMAN_MEMORY_MODEL: dict[str, tuple[float, float]] = {
    "motion": (800.0, 3.0),
    "cnmfe": (1500.0, 5.0),
    "evaluate": (1000.0, 0.5),
}


def caiman_mem_mb(step: str, n_pixels: int, n_frames: int) -> int:
    """Memory (MB) to reserve for CaImAn's ``step`` on a movie of ``n_pixels`` x ``n_frames``.

    Examples
    --------
    >>> caiman_mem_mb("motion", 256 * 256, 2000)  # a 500 MB float32 movie
    2300
    """
    if step not in CAIMAN_MEMORY_MODEL:
        raise ValueError(f"step must be one of {sorted(CAIMAN_MEMORY_MODEL)}, got {step!r}")
    base, factor = CAIMAN_MEMORY_MODEL[step]
    movie_mb = 4.0 * int(n_pixels) * int(n_frames) / 2**20
    return int(round(base + factor * movie_mb))


def movie_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(n_pixels, n_frames)`` of a movie file (TIFF, ``.mmap``, ``.blocks``) or of the motion step's folder.

    Reads only the file's header or name, so the workflow can size a job's memory before it runs.
    """
    from ..io.memmap import find_corrected_movie  # noqa: PLC0415
    from ..io.movie import open_movie  # noqa: PLC0415

    path = Path(path)
    movie = open_movie(find_corrected_movie(path) if path.is_dir() else path)
    n_frames, height, width = (int(s) for s in movie.shape)
    return height * width, n_frames
