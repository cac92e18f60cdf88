"""The stage layer: one module per workflow rule, between the Snakemake rules and the engine.

Each module (``ace_neuro.stages.<rule>``) maps its rule to the engine:

* ``OPTIONS``: the engine's options class that declares the stage's
  parameters (:class:`ace_neuro.options.Options`, e.g.
  :class:`ace_neuro.cnmfe.params.CnmfeOptions`), or None for a stage without
  parameters; :data:`ace_neuro.params.OPTIONS` names the same class for the
  registry;
* ``run(inputs, outputs, options, *, threads, log, **extras)``: the rule's
  work, given Snakemake's named input and output paths as they are (the rule
  owns every file name; the engine never picks one) and the options object,
  built once per job by ``workflow/scripts/stage.py`` from the values
  validated at start-up.

Stage modules are light: importing them (as the Snakefile does at start-up)
loads no OpenCV, h5py, SciPy or matplotlib (only the options modules); ``run``
imports the engine. Nothing under ``ace_neuro`` but this package and the
workflow imports it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ace_neuro.params import OPTIONS

__all__ = ["STAGES", "SUBJECT_STAGES", "module", "modules", "build_options"]

#: Every stage, in pipeline order (the rule of the same name runs it): the stages of the registry.
STAGES: tuple[str, ...] = tuple(OPTIONS)

#: Stages that run per subject (a tracking group of the sample sheet, ace_neuro.subjects), not per recording;
#: their parameters are still set per recording (a subject's sessions must agree).
SUBJECT_STAGES: tuple[str, ...] = ("register", "reextract", "tracked_nwb")


def module(stage: str) -> ModuleType:
    """The stage module of ``stage``."""
    if stage not in STAGES:
        from ace_neuro.params import ParameterError, suggest

        raise ParameterError(f"unknown stage {stage!r}{suggest(stage, STAGES)}")
    return importlib.import_module(f"ace_neuro.stages.{stage}")


def modules() -> dict[str, ModuleType]:
    """``{stage: module}`` in pipeline order."""
    return {stage: module(stage) for stage in STAGES}


def build_options(stage_module: ModuleType, values):
    """The options object a stage's ``run`` takes: its ``OPTIONS`` class built once from the rule's plain values.

    Parameters
    ----------
    stage_module : module
        A stage module (its ``OPTIONS`` is an options class or None).
    values : mapping
        The rule's ``params.p``: the stage's values as validated at start-up (JSON form).

    Returns
    -------
    Options or None
    """
    cls = stage_module.OPTIONS
    return None if cls is None else cls.from_params(values)
