"""The registry of every stage's options, the checks of a whole configuration, and the generated files.

Each engine package declares its parameters once, as the fields of a frozen
options class (:mod:`ace_neuro.options`: :func:`~ace_neuro.options.option`,
:class:`~ace_neuro.options.Options`); :data:`OPTIONS` names, for every stage
of the workflow in pipeline order, the class that holds its parameters. This
module reads those classes to check a whole configuration and the sample
sheet's cells by the same rules (:func:`stage_parameters`,
:func:`recording_parameters`, :func:`check_keys`) and to generate the JSON
schema and the documented ``config.yaml`` (``config/README.md``:
:mod:`ace_neuro.configdoc`), so they never disagree.

It imports the options modules only (light: no NumPy, OpenCV, h5py, SciPy or
matplotlib), never a stage or an engine's computing module: the Snakefile
imports it at start-up.

Parameter names are unique across stages, so a flat column such as ``gSig`` in
the sample sheet (the seed's ``analysis_parameters.csv`` habit) maps to exactly
one stage.
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Mapping

from ace_neuro.options import Options, Param, ParameterError, allowed_values, check_value, suggest

__all__ = [
    "OPTIONS",
    "Param",
    "ParameterError",
    "allowed_values",
    "options_class",
    "registry",
    "defaults",
    "stage_of",
    "check_value",
    "stage_parameters",
    "recording_parameters",
    "resolve",
    "check_keys",
    "suggest",
    "config_schema",
    "config_yaml",
]

#: Top-level keys of ``config.yaml`` that are not stage sections.
TOP_LEVEL_KEYS = ("experiments", "results")

#: Every stage of the workflow, in pipeline order, and the options class (``module:Class``) that declares its
#: parameters; None: a stage without parameters. A new stage (or a new options class) is one line here.
OPTIONS: dict[str, str | None] = {
    "convert": "ace_neuro.io.params:ConvertOptions",
    "projections": "ace_neuro.preprocess.params:ProjectionsOptions",
    "preprocess": "ace_neuro.preprocess.params:PreprocessOptions",
    "motion": "ace_neuro.motion.params:MotionOptions",
    "cnmfe": "ace_neuro.cnmfe.params:CnmfeOptions",
    "evaluate": "ace_neuro.cnmfe.params:EvaluateOptions",
    "events": "ace_neuro.postprocess.params:EventsOptions",
    "spectral": "ace_neuro.postprocess.params:SpectralOptions",
    "sync": "ace_neuro.postprocess.params:SyncOptions",
    "export": None,
    "nwb": "ace_neuro.io.params:NwbOptions",
    "movies": "ace_neuro.movies.params:MoviesOptions",
    "summary": None,
    "provenance": None,
    "register": "ace_neuro.tracking.params:TrackingOptions",
    "reextract": "ace_neuro.tracking.params:ReextractOptions",
    "tracked_nwb": None,
}


# ----------------------------------------------------------------------------- registry


def options_class(stage: str) -> type[Options]:
    """The options class of ``stage`` (:class:`~ace_neuro.options.Options` itself for a stage without parameters).

    Raises
    ------
    ParameterError
        If ``stage`` is not a stage of :data:`OPTIONS`.
    """
    if stage not in OPTIONS:
        raise ParameterError(f"unknown stage {stage!r}{suggest(stage, OPTIONS)}")
    target = OPTIONS[stage]
    if target is None:
        return Options
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _registry() -> dict[str, dict[str, Param]]:
    out: dict[str, dict[str, Param]] = {}
    seen: dict[str, str] = {}
    for stage in OPTIONS:
        cls = options_class(stage)
        out[stage] = {}
        for p in cls.parameters():
            if cls is not Options and cls.STAGE != stage:
                raise RuntimeError(f"{cls.__qualname__}.STAGE is {cls.STAGE!r}, but it holds stage {stage!r}")
            if p.name in seen:
                raise RuntimeError(f"parameter {p.name!r} is declared by both stages {seen[p.name]!r} and {stage!r}")
            seen[p.name] = stage
            out[stage][p.name] = p
    return out


def registry() -> dict[str, dict[str, Param]]:
    """All parameters, as ``{stage: {name: Param}}`` in pipeline order (a new dict).

    Raises
    ------
    RuntimeError
        If two stages declare the same parameter name.
    """
    return {stage: dict(params) for stage, params in _registry().items()}


def defaults(stage: str) -> dict[str, Any]:
    """Default values of one stage's parameters, in JSON form (pairs as lists), as a new dict."""
    return options_class(stage).defaults()


def stage_of(name: str) -> str:
    """The stage a flat parameter name belongs to.

    Raises
    ------
    ParameterError
        If no stage declares ``name``; the message names the nearest known key.
    """
    known = {n: s for s, params in _registry().items() for n in params}
    if name not in known:
        raise ParameterError(f"unknown parameter {name!r}{suggest(name, known)}")
    return known[name]


# ----------------------------------------------------------------------------- a stage, a recording


def stage_parameters(stage: str, values: Mapping[str, Any] | None = None, *, where: str = "") -> Options:
    """Validate one stage's parameters: the stage's options object, built (and so checked) once.

    Parameters
    ----------
    stage : str
        Stage name (a key of :data:`OPTIONS`).
    values : mapping or Options, optional
        ``{name: value}``; missing names take their defaults. An options
        object of the stage is returned as it is.
    where : str
        Prefix of error messages (the config file, or the sheet's line and id).

    Returns
    -------
    Options
        The stage's options class (:func:`options_class`), validated.

    Raises
    ------
    ParameterError
        An unknown name (with the nearest known one), a value out of its type,
        range or allowed values, or values that contradict each other.
    """
    return options_class(stage).from_params(values, where=where)


def resolve(
    stage: str,
    config: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Raw parameters of one stage: defaults, then the config section, then flat overrides.

    Values are not checked here; :func:`stage_parameters` checks them.

    Parameters
    ----------
    stage : str
        Stage name.
    config : mapping, optional
        Grouped configuration ``{stage: {name: value}}`` (``config.yaml``).
    overrides : mapping, optional
        Flat ``{name: value}`` for this recording (sample-sheet columns); keys
        of other stages are ignored here, unknown keys are an error.
    """
    params = defaults(stage)
    section = (config or {}).get(stage) or {}
    for name, value in section.items():
        if name not in params:
            raise ParameterError(f"unknown parameter {stage}.{name}{suggest(name, params)}")
        params[name] = value
    for name, value in (overrides or {}).items():
        if stage_of(name) == stage:
            params[name] = value
    return params


def recording_parameters(
    config: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    where: str = "",
) -> dict[str, Options]:
    """Every stage's validated parameters for one recording: defaults, config, then its sheet row.

    Parameters
    ----------
    config : mapping, optional
        Grouped configuration ``{stage: {name: value}}``.
    overrides : mapping, optional
        The recording's flat ``{name: value}`` from its sheet row (parsed cells).
    where : str
        Names the recording in error messages.

    Returns
    -------
    dict
        ``{stage: options}`` in pipeline order.
    """
    check_keys(config or {})
    return {
        stage: stage_parameters(stage, resolve(stage, config, overrides), where=where) for stage in registry()
    }


def check_keys(config: Mapping[str, Any], *, top_level: tuple[str, ...] = TOP_LEVEL_KEYS) -> None:
    """Check every key of a grouped configuration against the registry.

    Parameters
    ----------
    config : mapping
        ``{stage: {name: value}}`` plus any of ``top_level`` keys.
    top_level : tuple of str
        Non-stage keys allowed at the top (``experiments``, ...).

    Raises
    ------
    ParameterError
        At the first unknown stage or parameter, naming it and its nearest
        known neighbour (also when the key belongs to another stage).
    """
    reg = registry()
    for section, values in config.items():
        if section in top_level:
            continue
        if section not in reg:
            all_names = {n: s for s, params in reg.items() for n in params}
            if section in all_names:
                raise ParameterError(f"config key {section!r} must be inside the {all_names[section]!r} section")
            raise ParameterError(f"unknown config section {section!r}{suggest(section, list(reg) + list(top_level))}")
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ParameterError(f"config section {section!r} must be a mapping of parameter: value")
        for name in values:
            if name not in reg[section]:
                owner = next((s for s, params in reg.items() if name in params), None)
                where = f" (it belongs to section {owner!r})" if owner else suggest(name, reg[section])
                raise ParameterError(f"unknown parameter {section}.{name}{where}")


# ----------------------------------------------------------------------------- generated files


def config_schema() -> dict:
    """The JSON schema of ``config.yaml``, generated from the registry."""
    reg = registry()
    properties: dict[str, Any] = {
        "experiments": {
            "type": "string",
            "description": "Sample sheet: one row per recording (CSV).",
            "default": "config/experiments.csv",
        },
        "results": {
            "type": "string",
            "description": "Folder that receives one sub-folder of outputs per recording.",
            "default": "results",
        },
    }
    for stage, params in reg.items():
        properties[stage] = {
            "type": "object",
            "description": f"Parameters of the {stage} step.",
            "additionalProperties": False,
            "default": {},
            "properties": {name: p.schema() for name, p in params.items()},
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ace-neuro workflow configuration",
        "description": "Generated by `ace-neuro config --schema` from ace_neuro.params; do not edit by hand.",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": ["experiments"],
    }


def config_yaml() -> str:
    """The documented default ``config.yaml``, generated from the registry."""
    lines = [
        "# ace-neuro workflow configuration: every parameter, its default and what it does.",
        "# Generated by `ace-neuro config > config/config.yaml`; names follow CaImAn where CaImAn has one.",
        "# Any parameter can be overridden per recording by a column of the same name in the sample sheet.",
        "# config/README.md describes every key and sheet column.",
        "",
        "# Sample sheet: one row per recording (columns: id, calcium imaging directory, ...).",
        'experiments: "config/experiments.csv"',
        "# Folder that receives one sub-folder of outputs per recording.",
        'results: "results"',
    ]
    for stage, params in registry().items():
        if not params:
            continue
        lines += ["", f"{stage}:"]
        for name, p in params.items():
            lines.append(f"  # {p.help}")
            lines.append(f"  {name}: {json.dumps(p.default)}")
    return "\n".join(lines) + "\n"
