"""Parameters: how one is declared, the one validator, and the registry of every stage's.

Each stage module under :mod:`ace_neuro.stages` declares its parameters as a
tuple ``PARAMETERS`` of :class:`Param` (the CaImAn name where CaImAn has one,
a default, a JSON type, bounds or allowed values and a one-line help), and may
define ``check(values)`` for the relations between them (``gSiz >= gSig``).
This module holds the one validator that serves ``config.yaml`` and the sample
sheet's cells alike (:func:`check_value`, :func:`stage_parameters`,
:func:`recording_parameters`), the registry, and the generators of the JSON
schema and of the documented ``config.yaml``, so the three never disagree.

Nothing here imports an engine module: the Snakefile imports it at start-up.

Parameter names are unique across stages, so a flat column such as ``gSig`` in
the sample sheet (the seed's ``analysis_parameters.csv`` habit) maps to exactly
one stage.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterator, Mapping

__all__ = [
    "Param",
    "ParameterError",
    "StageParams",
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
        ``"string"``, ``"array"``, ``"object"``, ``"null"``.
    help : str
        One line, shown as the comment in ``config.yaml`` and in the schema.
    stage : str
        Stage the parameter belongs to (a module of :mod:`ace_neuro.stages`).
    enum : tuple, optional
        Allowed values.
    minimum, maximum : float, optional
        Inclusive bounds for numbers (and for the items of a pair).
    exclusive_minimum : float, optional
        Exclusive lower bound for numbers.
    items : dict, optional
        JSON schema of array items (``{"type": "integer", "minimum": 1}``).
    pair : bool
        A ``(rows, cols)`` pair where CaImAn also accepts one number for both
        (``gSig: 4`` means ``[4, 4]``); values are normalised to a list of two.
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
    pair: bool = False
    caiman_group: str | None = None

    @property
    def types(self) -> tuple[str, ...]:
        """The JSON types as a tuple."""
        return (self.type,) if isinstance(self.type, str) else tuple(self.type)

    def schema(self) -> dict:
        """JSON-schema fragment for this parameter."""
        types = list(self.types)
        if self.pair and self.items is not None:
            types.insert(types.index("array"), self.items["type"])
        out: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
        out["description"] = self.help
        out["default"] = self.default
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.pair and self.items is not None:
            for key in ("minimum", "maximum"):
                if key in self.items:
                    out[key] = self.items[key]
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.exclusive_minimum is not None:
            out["exclusiveMinimum"] = self.exclusive_minimum
        if self.items is not None:
            out["items"] = self.items
            if self.pair:
                out["minItems"] = out["maxItems"] = 2
        return out


class StageParams(Mapping):
    """The validated, read-only parameters of one stage for one recording.

    Values are read as attributes (``params.gSig``) or by key
    (``params["gSig"]``). Build one with :func:`stage_parameters`; a
    ``StageParams`` is never validated twice.
    """

    __slots__ = ("stage", "_values")

    def __init__(self, stage: str, values: Mapping[str, Any]):
        object.__setattr__(self, "stage", stage)
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"stage {self.stage!r} has no parameter {name!r}{suggest(name, self._values)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("StageParams are read-only")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"StageParams({self.stage!r}, {dict(self._values)!r})"

    def __reduce__(self):
        return (StageParams, (self.stage, dict(self._values)))


# ----------------------------------------------------------------------------- registry


def registry() -> dict[str, dict[str, Param]]:
    """All parameters, as ``{stage: {name: Param}}`` in pipeline order.

    Raises
    ------
    RuntimeError
        If two stages declare the same parameter name.
    """
    from ace_neuro import stages

    out: dict[str, dict[str, Param]] = {}
    seen: dict[str, str] = {}
    for stage, module in stages.modules().items():
        out[stage] = {}
        for p in module.PARAMETERS:
            if p.stage != stage:
                raise RuntimeError(f"{module.__name__}: parameter {p.name!r} names stage {p.stage!r}")
            if p.name in seen:
                raise RuntimeError(f"parameter {p.name!r} is declared by both stages {seen[p.name]!r} and {stage!r}")
            seen[p.name] = stage
            out[stage][p.name] = p
    return out


def defaults(stage: str) -> dict[str, Any]:
    """Default values of one stage's parameters (lists copied)."""
    reg = registry()
    if stage not in reg:
        raise ParameterError(f"unknown stage {stage!r}{suggest(stage, reg)}")
    return {name: (list(p.default) if isinstance(p.default, list) else p.default) for name, p in reg[stage].items()}


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
    names = [str(n) for n in known]
    lower = {n.lower(): n for n in names}
    if key.lower() in lower and lower[key.lower()] != key:
        return f"; did you mean {lower[key.lower()]!r}? (names are case-sensitive)"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known keys are: {', '.join(sorted(names))}"


# ----------------------------------------------------------------------------- one value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def allowed_values(p: Param) -> str:
    """What ``p`` accepts, in words (its type, bounds or allowed values), for messages and the config docs."""
    if p.enum is not None:
        return "one of " + ", ".join(json.dumps(v) for v in p.enum)
    parts = []
    for kind, word in (("integer", "an integer"), ("number", "a number"), ("boolean", "true or false"),
                       ("string", "a text"), ("object", "a mapping"), ("null", "null (not set)")):
        if kind in p.types and not (p.pair and kind == "string"):
            parts.append(word)
    if p.pair:
        parts.insert(0, "a number or a pair [rows, cols] of " + ("integers" if p.items.get("type") == "integer" else "numbers"))
        if "string" in p.types and isinstance(p.default, str):  # a pair that may also be measured ('auto')
            parts.append(f"{p.default!r}")
    elif "array" in p.types:
        parts.append("a list")
    bounds = []
    lo = p.minimum if p.minimum is not None else (p.items or {}).get("minimum") if p.pair else p.minimum
    hi = p.maximum if p.maximum is not None else (p.items or {}).get("maximum") if p.pair else p.maximum
    if lo is not None:
        bounds.append(f">= {lo:g}")
    if p.exclusive_minimum is not None:
        bounds.append(f"> {p.exclusive_minimum:g}")
    if hi is not None:
        bounds.append(f"<= {hi:g}")
    return " or ".join(parts) + (f" ({', '.join(bounds)})" if bounds else "")


def _check_number(p: Param, value: Any, integer: bool, lo: float | None, hi: float | None) -> Any:
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError
    if integer:
        if float(value) != int(value):
            raise ValueError
        value = int(value)
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ValueError
    if p.exclusive_minimum is not None and value <= p.exclusive_minimum:
        raise ValueError
    return value


def check_value(p: Param, value: Any, *, where: str = "") -> Any:
    """Check one value against its declaration and return it normalised.

    Parameters
    ----------
    p : Param
        The declaration.
    value : Any
        A value from ``config.yaml`` or a parsed sample-sheet cell.
    where : str
        Prefix of the error message (file, line, column).

    Returns
    -------
    Any
        The value; integers as ``int``, pairs as a list of two.

    Raises
    ------
    ParameterError
        Naming the parameter, the value and what is allowed.
    """
    try:
        return _normalise(p, value)
    except ValueError:
        prefix = f"{where}: " if where else ""
        raise ParameterError(
            f"{prefix}{p.stage}.{p.name} = {json.dumps(value, default=str)} is not allowed; it must be {allowed_values(p)}"
        ) from None


def _normalise(p: Param, value: Any) -> Any:
    types = p.types
    if value is None:
        if "null" in types or p.enum is not None and None in p.enum:
            return None
        raise ValueError
    if p.enum is not None:
        # True == 1 in Python: compare types too, so that 1 is not taken for true.
        if not any(value == v and type(value) is type(v) or _is_number(value) and _is_number(v) and value == v for v in p.enum):
            raise ValueError
        return value
    if isinstance(value, bool):
        if "boolean" in types:
            return value
        raise ValueError
    if p.pair:
        item_integer = p.items.get("type") == "integer"
        lo, hi = p.items.get("minimum"), p.items.get("maximum")
        if _is_number(value):
            value = [value, value]
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return [_check_number(p, v, item_integer, lo, hi) for v in value]
        if isinstance(value, str) and "string" in types:
            return value
        raise ValueError
    if _is_number(value) and ("number" in types or "integer" in types):
        return _check_number(p, value, "number" not in types, p.minimum, p.maximum)
    if isinstance(value, str) and "string" in types:
        return value
    if isinstance(value, (list, tuple)) and "array" in types:
        value = list(value)
        item_type = (p.items or {}).get("type")
        if item_type in ("integer", "number"):
            value = [_check_number(p, v, item_type == "integer", p.items.get("minimum"), p.items.get("maximum")) for v in value]
        return value
    if isinstance(value, Mapping) and "object" in types:
        return dict(value)
    raise ValueError


# ----------------------------------------------------------------------------- a stage, a recording


def stage_parameters(stage: str, values: Mapping[str, Any] | None = None, *, where: str = "") -> StageParams:
    """Validate one stage's parameters: defaults completed, each value checked, then their relations.

    Parameters
    ----------
    stage : str
        Stage name (a module of :mod:`ace_neuro.stages`).
    values : mapping, optional
        ``{name: value}``; missing names take their defaults.
    where : str
        Prefix of error messages (the config file, or the sheet's line and id).

    Returns
    -------
    StageParams

    Raises
    ------
    ParameterError
        An unknown name (with the nearest known one), a value out of its type,
        range or allowed values, or values that contradict each other.
    """
    from ace_neuro import stages

    declared = registry().get(stage)
    if declared is None:
        raise ParameterError(f"unknown stage {stage!r}{suggest(stage, registry())}")
    if isinstance(values, StageParams) and values.stage == stage:
        return values
    out = defaults(stage)
    for name, value in (values or {}).items():
        if name not in declared:
            prefix = f"{where}: " if where else ""
            raise ParameterError(f"{prefix}unknown parameter {stage}.{name}{suggest(name, declared)}")
        out[name] = check_value(declared[name], value, where=where)
    check = getattr(stages.module(stage), "check", None)
    if check is not None:
        try:
            out = check(out)
        except ParameterError as err:
            raise ParameterError(f"{where}: {err}" if where else str(err)) from None
    return StageParams(stage, out)


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
) -> dict[str, StageParams]:
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
        ``{stage: StageParams}`` in pipeline order.
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
