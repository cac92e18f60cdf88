"""Every parameter of the pipeline, in one registry.

Each stage module declares its parameters as a tuple ``PARAMS`` of :class:`Param`
(the CaImAn name where CaImAn has one, a default, a JSON type and a one-line help).
This module gathers them, checks user-supplied keys (an unknown key is an error
that names the nearest known key), resolves per-recording overrides, and writes
the JSON schema and the documented ``config.yaml`` that the workflow ships, so
the three can never disagree.

Parameter names are unique across stages, so a flat column such as ``gSig`` in
the sample sheet (the seed's ``analysis_parameters.csv`` habit) maps to exactly
one stage.
"""

from __future__ import annotations

import difflib
import importlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = [
    "Param",
    "ParameterError",
    "STAGES",
    "registry",
    "defaults",
    "stage_of",
    "resolve",
    "check_keys",
    "suggest",
    "config_schema",
    "config_yaml",
]

#: Stage name -> module that defines ``PARAMS`` for it, in pipeline order.
#: Each stage's module lands with the stage; add its line here when it does.
STAGES: dict[str, str] = {
    "convert": "ace_neuro.io.convert",
    "projections": "ace_neuro.preprocess",
    "preprocess": "ace_neuro.preprocess",
    "motion": "ace_neuro.motion.params",
    "cnmfe": "ace_neuro.cnmfe.params",
    "evaluate": "ace_neuro.cnmfe.evaluate",
    "events": "ace_neuro.postprocess.params",
    "spectral": "ace_neuro.postprocess.params",
    "sync": "ace_neuro.postprocess.params",
}


class ParameterError(ValueError):
    """A parameter key or value that the pipeline cannot use."""


@dataclass(frozen=True)
class Param:
    """One parameter.

    Parameters
    ----------
    name : str
        The key, CaImAn's name where CaImAn has one (``gSig``, ``max_shifts``).
    default : Any
        Default value; ``None`` means "not set" and must be allowed by ``type``.
    type : str or tuple of str
        JSON-schema type(s): ``"number"``, ``"integer"``, ``"boolean"``,
        ``"string"``, ``"array"``, ``"null"``.
    help : str
        One line, shown as the comment in ``config.yaml`` and in the schema.
    stage : str
        Stage the parameter belongs to (a key of :data:`STAGES`).
    enum : tuple, optional
        Allowed values.
    minimum, maximum : float, optional
        Inclusive bounds for numbers.
    exclusive_minimum : float, optional
        Exclusive lower bound for numbers.
    items : dict, optional
        JSON schema of array items.
    caiman_group : str, optional
        CaImAn ``CNMFParams`` group (``motion``, ``init``, ...) for export.
    """

    name: str
    default: Any
    type: str | tuple[str, ...]
    help: str
    stage: str
    enum: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    items: dict | None = field(default=None, hash=False, compare=False)
    caiman_group: str | None = None

    def schema(self) -> dict:
        """JSON-schema fragment for this parameter."""
        types = [self.type] if isinstance(self.type, str) else list(self.type)
        out: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
        out["description"] = self.help
        out["default"] = self.default
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.exclusive_minimum is not None:
            out["exclusiveMinimum"] = self.exclusive_minimum
        if self.items is not None:
            out["items"] = self.items
        return out


def registry() -> dict[str, dict[str, Param]]:
    """All parameters, as ``{stage: {name: Param}}`` in pipeline order.

    Raises
    ------
    RuntimeError
        If two stages declare the same parameter name.
    """
    out: dict[str, dict[str, Param]] = {stage: {} for stage in STAGES}
    seen: dict[str, str] = {}
    for module_name in dict.fromkeys(STAGES.values()):
        module = importlib.import_module(module_name)
        for p in module.PARAMS:
            if p.stage not in out:
                raise RuntimeError(f"{module_name}: parameter {p.name!r} names unknown stage {p.stage!r}")
            if p.name in seen:
                raise RuntimeError(
                    f"parameter {p.name!r} is declared by both stages {seen[p.name]!r} and {p.stage!r}"
                )
            seen[p.name] = p.stage
            out[p.stage][p.name] = p
    return out


def defaults(stage: str) -> dict[str, Any]:
    """Default values of one stage's parameters."""
    reg = registry()
    if stage not in reg:
        raise ParameterError(f"unknown stage {stage!r}{suggest(stage, reg)}")
    return {name: p.default for name, p in reg[stage].items()}


def stage_of(name: str) -> str:
    """The stage a flat parameter name belongs to.

    Raises
    ------
    ParameterError
        If no stage declares ``name``; the message names the nearest known key.
    """
    known = {n: s for s, params in registry().items() for n in params}
    if name not in known:
        raise ParameterError(f"unknown parameter {name!r}{suggest(name, known)}")
    return known[name]


def suggest(key: str, known: Any) -> str:
    """``"; did you mean 'x'?"`` for the closest known key, or a list of choices."""
    names = list(known)
    lower = {n.lower(): n for n in names}
    if key.lower() in lower and lower[key.lower()] != key:
        return f"; did you mean {lower[key.lower()]!r}? (names are case-sensitive)"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known keys are: {', '.join(sorted(names))}"


def check_keys(config: Mapping[str, Any], *, top_level: tuple[str, ...] = ()) -> None:
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
                raise ParameterError(
                    f"config key {section!r} must be inside the {all_names[section]!r} section"
                )
            raise ParameterError(
                f"unknown config section {section!r}{suggest(section, list(reg) + list(top_level))}"
            )
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ParameterError(f"config section {section!r} must be a mapping of parameter: value")
        for name in values:
            if name not in reg[section]:
                owner = next((s for s, params in reg.items() if name in params), None)
                where = f" (it belongs to section {owner!r})" if owner else suggest(name, reg[section])
                raise ParameterError(f"unknown parameter {section}.{name}{where}")


def resolve(
    stage: str,
    config: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Parameters of one stage: defaults, then the config section, then overrides.

    Parameters
    ----------
    stage : str
        Stage name.
    config : mapping, optional
        Grouped configuration ``{stage: {name: value}}`` (``config.yaml``).
    overrides : mapping, optional
        Flat ``{name: value}`` for this recording (sample-sheet columns); keys
        of other stages are ignored here, unknown keys are an error.

    Returns
    -------
    dict
        ``{name: value}`` for every parameter of ``stage``.
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


def _yaml_value(value: Any) -> str:
    return json.dumps(value)


def config_yaml() -> str:
    """The documented default ``config.yaml``, generated from the registry."""
    lines = [
        "# ace-neuro workflow configuration: every parameter, its default and what it does.",
        "# Generated by `ace-neuro config > config/config.yaml`; names follow CaImAn where CaImAn has one.",
        "# Any parameter can be overridden per recording by a column of the same name in the sample sheet.",
        "",
        "# Sample sheet: one row per recording (columns: id, calcium imaging directory, ...).",
        'experiments: "config/experiments.csv"',
        "# Folder that receives one sub-folder of outputs per recording.",
        'results: "results"',
    ]
    for stage, params in registry().items():
        lines += ["", f"{stage}:"]
        if not params:
            lines[-1] += " {}"
        for name, p in params.items():
            lines.append(f"  # {p.help}")
            lines.append(f"  {name}: {_yaml_value(p.default)}")
    return "\n".join(lines) + "\n"
