"""CNMF-E parameters checked for the engine.

The parameters (CaImAn's names, meanings and one-photon defaults) are declared
in :mod:`ace_neuro.stages.cnmfe` and checked, with the relations between them,
by the one validator, :func:`ace_neuro.params.stage_parameters`.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..params import defaults, stage_parameters

__all__ = ["check_params", "default_params"]


def default_params() -> dict[str, Any]:
    """Default value of every CNMF-E parameter, as a new dict."""
    return defaults("cnmfe")


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Complete and check a CNMF-E parameter dict (``gSig``/``gSiz`` as lists of two ints).

    Raises
    ------
    ParameterError
        On an unknown key (naming the nearest known one), a value of the wrong
        type or range, or inconsistent values.
    """
    return dict(stage_parameters("cnmfe", params))
