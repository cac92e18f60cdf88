"""The stage layer: one module per workflow rule, between the Snakemake rules and the engine.

Each module (``ace_neuro.stages.<rule>``) owns its rule's

* ``PARAMETERS``: the parameter declarations (:class:`ace_neuro.params.Param`:
  CaImAn name, type, default, bounds or allowed values, CaImAn group, doc);
* ``check(values)`` (optional): the relations between its parameters, run by
  the one validator, :func:`ace_neuro.params.stage_parameters`;
* ``run(inputs, outputs, params, *, threads, log, **extras)``: the rule's work,
  given Snakemake's named input and output paths as they are (the rule owns
  every file name; the engine never picks one).

Stage modules are light: importing them (as the Snakefile does at start-up)
loads no OpenCV, h5py, SciPy or matplotlib; ``run`` imports the engine.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["STAGES", "SUBJECT_STAGES", "module", "modules"]

#: Every stage, in pipeline order (the rule of the same name runs it).
STAGES: tuple[str, ...] = (
    "convert",
    "projections",
    "preprocess",
    "motion",
    "cnmfe",
    "evaluate",
    "events",
    "spectral",
    "sync",
    "nwb",
    "movies",
    "summary",
    "provenance",
    "register",
    "reextract",
)

#: Stages that run per subject (a tracking group of the sample sheet, ace_neuro.subjects), not per recording;
#: their parameters are still set per recording (a subject's sessions must agree).
SUBJECT_STAGES: tuple[str, ...] = ("register", "reextract")


def module(stage: str) -> ModuleType:
    """The stage module of ``stage``."""
    if stage not in STAGES:
        from ace_neuro.params import ParameterError, suggest

        raise ParameterError(f"unknown stage {stage!r}{suggest(stage, STAGES)}")
    return importlib.import_module(f"ace_neuro.stages.{stage}")


def modules() -> dict[str, ModuleType]:
    """``{stage: module}`` in pipeline order."""
    return {stage: module(stage) for stage in STAGES}
